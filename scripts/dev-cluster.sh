#!/usr/bin/env bash
# A local hangar cluster on one machine, to try placement, the private network and
# everything else across hosts and regions: a private PostgreSQL, two API replicas
# and N host agents. As root, each host runs in a network namespace of its own
# (hangar-hostN), joined to the others only by a bridge standing in for the hosts'
# network (hangar-ul, 10.209.0.0/24: host N at 10.209.0.N, this machine at .254), so
# traffic between hosts' machines really crosses the WireGuard hangar sets up; each
# host's machines live in hangar-hN. Without root (fake driver only) the hosts share
# this machine's loopback.
#
#   scripts/dev-cluster.sh [--hosts N] [--driver qemu|fake] [--dir DIR]
#
# Hosts take regions in turn: fra, syd, fra, … The API replicas answer on
# 127.0.0.1:4280 and 127.0.0.1:4281. Once they answer, DIR/cluster.json says where
# everything is: {"api": [replica URLs], "hosts": [{"id", "region", "agent", "proxy"}]},
# where "proxy" is each host's edge proxy (any of them serves any app's machines).
# Images are read by the hosts: give them as oci:/path (every simulated host shares
# this filesystem) or from a registry the hosts reach (10.209.0.254 is this machine).
# Ctrl-C stops everything it started (machines' VMs are destroyed first only if
# you destroy them: they outlive hangar by design). The qemu driver needs root and
# scripts/setup-guest.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=3
DRIVER=qemu
DIR=${TMPDIR:-/tmp}/hangar-dev-cluster
while [ $# -gt 0 ]; do
  case "$1" in
    --hosts) HOSTS=$2; shift 2 ;;
    --driver) DRIVER=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    *) echo "usage: $0 [--hosts N] [--driver qemu|fake] [--dir DIR]" >&2; exit 2 ;;
  esac
done
[[ "$HOSTS" =~ ^[1-9][0-9]?$ ]] || { echo "--hosts must be 1-99" >&2; exit 2; }
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PG_BIN" ] || { echo "PostgreSQL is not installed: run scripts/setup-guest.sh" >&2; exit 1; }

mkdir -p "$DIR"
PGDATA=$DIR/postgres
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ ! -d "$PGDATA" ]; then
  mkdir -p "$PGDATA"
  [ "$(id -u)" = 0 ] && chown postgres "$DIR" "$PGDATA"
  as_pg "$PG_BIN/initdb" -D "$PGDATA" -U hangar --auth=trust >/dev/null
fi
as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -o "-c listen_addresses='' -k $PGDATA" -l "$DIR/postgres.log" -w start >/dev/null
STORE="postgresql://hangar@localhost/postgres?host=$PGDATA"

export HANGAR_API_TOKEN=${HANGAR_API_TOKEN:-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')}
# One keyring for app secrets, which every replica and host is given; kept in the directory across runs.
[ -f "$DIR/secrets.key" ] || (umask 077; head -c 32 /dev/urandom | base64 > "$DIR/secrets.key")
export HANGAR_SECRETS_KEY
HANGAR_SECRETS_KEY=$(cat "$DIR/secrets.key")

# Identities, as an operator issues them: the cluster's authority (its key stays here),
# one identity for the replicas, and for each host its own certificate and its own
# database role (it can act as that host and no other; making it brings the schema
# up to date, as the database's owner).
./hangar cluster ca "$DIR/pki/ca" >/dev/null
./hangar cluster issue replica replicas --ca "$DIR/pki/ca" --out "$DIR/pki/replicas" >/dev/null
PIDS=()
stop_all() {
  trap - INT TERM EXIT
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -w stop >/dev/null || true
  [ "$APART" = 1 ] && remove_underlay
}
trap stop_all INT TERM EXIT

# The simulated hosts' network: a bridge here, and a namespace per host on it.
UNDERLAY=10.209.0
APART=$([ "$(id -u)" = 0 ] && echo 1 || echo 0)
remove_underlay() {
  for i in $(seq 1 "$HOSTS"); do ip netns del "hangar-host$i" 2>/dev/null || true; done
  ip link del hangar-ul 2>/dev/null || true
}
if [ "$APART" = 1 ]; then
  remove_underlay
  # A WireGuard link left from an earlier run keeps its socket in that run's host namespace, gone now: hangar makes it again.
  for i in $(seq 1 "$HOSTS"); do ip -n "hangar-h$i" link del "hgw-hangar-h$i" 2>/dev/null || true; done
  ip link add hangar-ul type bridge
  ip addr add "$UNDERLAY.254/24" dev hangar-ul
  ip link set hangar-ul up
  for i in $(seq 1 "$HOSTS"); do
    ip netns add "hangar-host$i"
    ip -n "hangar-host$i" link set lo up
    ip link add "hangar-ul-$i" type veth peer name eth0 netns "hangar-host$i"
    ip link set "hangar-ul-$i" master hangar-ul up
    ip -n "hangar-host$i" addr add "$UNDERLAY.$i/24" dev eth0
    ip -n "hangar-host$i" link set eth0 up
  done
fi

REGIONS=(fra syd)
HOSTS_JSON=()
for i in $(seq 1 "$HOSTS"); do
  region=${REGIONS[$(( (i - 1) % ${#REGIONS[@]} ))]}
  ./hangar cluster issue host "h$i" --ca "$DIR/pki/ca" --out "$DIR/pki/h$i" >/dev/null
  (umask 077; ./hangar cluster host-role "h$i" --store "$STORE" >"$DIR/pki/h$i/store-url")
  if [ "$APART" = 1 ]; then
    enter=(nsenter "--net=/run/netns/hangar-host$i"); agent="$UNDERLAY.$i:4290"; proxy="$UNDERLAY.$i:8080"
  else
    enter=(); agent="127.0.0.1:$((4290 + i))"; proxy="127.0.0.1:$((8080 + i))"
  fi
  "${enter[@]}" ./hangar serve --role host --store "$(cat "$DIR/pki/h$i/store-url")" --cluster-dir "$DIR/pki/h$i" --data-dir "$DIR/h$i" --host-id "h$i" --region "$region" \
    --driver "$DRIVER" --netns "hangar-h$i" --agent-listen "$agent" --proxy-listen "$proxy" --proxy-tls-listen off >"$DIR/h$i.log" 2>&1 &
  PIDS+=($!)
  HOSTS_JSON+=("{\"id\": \"h$i\", \"region\": \"$region\", \"agent\": \"https://$agent\", \"proxy\": \"http://$proxy\"}")
done
for i in 0 1; do
  # --driver: the hosts' (a replica pins a create's tag as they would resolve it).
  ./hangar serve --role api --driver "$DRIVER" --store "$STORE" --cluster-dir "$DIR/pki/replicas" --data-dir "$DIR/api$i" --api-listen "127.0.0.1:$((4280 + i))" >"$DIR/api$i.log" 2>&1 &
  PIDS+=($!)
done
for i in 0 1; do
  for _ in $(seq 1 100); do grep -q '^hangar http' "$DIR/api$i.log" 2>/dev/null && break; sleep 0.2; done
done
(IFS=,; echo "{\"api\": [\"http://127.0.0.1:4280\", \"http://127.0.0.1:4281\"], \"hosts\": [${HOSTS_JSON[*]}]}") >"$DIR/cluster.json"
cat <<EOF
hangar cluster: PostgreSQL in $PGDATA, $HOSTS host agents (regions ${REGIONS[*]}), API replicas on 127.0.0.1:4280 and :4281
where everything is: $DIR/cluster.json; logs in $DIR/*.log. Try:
  export HANGAR_API_URL=http://127.0.0.1:4280 HANGAR_API_TOKEN=$HANGAR_API_TOKEN
  ./hangar hosts list
  ./hangar apps create demo && ./hangar machine run -a demo <image> --region syd
  curl -H 'Host: demo.localhost' <any host's "proxy" in cluster.json>/   (a machine with an http service on port 80)
Ctrl-C stops the cluster.
EOF
wait -n "${PIDS[@]}" || true
echo "a process of the cluster ended; see $DIR/*.log" >&2
