#!/usr/bin/env bash
# Sets up what real machines need on this host: QEMU, busybox-static, e2fsprogs, Go (to build
# the sandbox agent, hangar-envd) and
# (for tests) docker-registry and curl, Chromium (the web console's browser tests), WireGuard (wireguard-go where the kernel has none), copied into a test image, and PostgreSQL, which
# the PostgreSQL store's tests start a private server of, from Debian's archive, and Debian's cloud kernel (apt-get download + dpkg -x) in
# .tools/guest/. Needs root for apt. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
GUEST=.tools/guest
NEED=()
for pkg in qemu-system-x86 qemu-utils busybox-static e2fsprogs cpio gcc libc6-dev golang-go docker-registry nftables curl postgresql wireguard-go wireguard-tools chromium; do
  dpkg -s "$pkg" >/dev/null 2>&1 || NEED+=("$pkg")
done
if [ ${#NEED[@]} -gt 0 ]; then
  echo "setup-guest: installing ${NEED[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${NEED[@]}" >/dev/null
fi

if [ ! -f "$GUEST/vmlinuz" ]; then
  # The metapackage names the current kernel package; fetch that one.
  kernel_pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
  [ -n "$kernel_pkg" ] || { apt-get update -qq; kernel_pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ {print $2; exit}'); }
  echo "setup-guest: fetching $kernel_pkg" >&2
  work=$(mktemp -d)
  (cd "$work" && apt-get download -qq "$kernel_pkg" 2>/dev/null)
  rm -rf "$GUEST" && mkdir -p "$GUEST"
  dpkg -x "$work"/*.deb "$work/root"
  release=${kernel_pkg#linux-image-}
  cp "$work/root/boot/vmlinuz-$release" "$GUEST/vmlinuz"
  mkdir -p "$GUEST/modules"
  cp -r "$work/root/lib/modules/$release/kernel" "$GUEST/modules/"
  echo "$release" > "$GUEST/kernel-release"
  rm -rf "$work"
fi
# PID 1 of every machine: a small static program (src/guest/init/hangar-init.c).
if [ ! -x "$GUEST/hangar-init" ] || [ src/guest/init/hangar-init.c -nt "$GUEST/hangar-init" ]; then
  echo "setup-guest: building hangar-init" >&2
  gcc -static -Os -Wall -Wextra -Werror -o "$GUEST/hangar-init" src/guest/init/hangar-init.c
fi
# The E2B agent of sandboxes: static Go, the standard library only (src/guest/envd/).
if [ ! -x "$GUEST/hangar-envd" ] || [ -n "$(find src/guest/envd -newer "$GUEST/hangar-envd" -print -quit)" ]; then
  echo "setup-guest: building hangar-envd" >&2
  (cd src/guest/envd && CGO_ENABLED=0 GOFLAGS=-trimpath GOCACHE="${GOCACHE:-/tmp/hangar-go-cache}" go build -ldflags "-s -w" -o "../../../$GUEST/hangar-envd" .)
fi
# wireguard-go for kernels without WireGuard. Debian 12's own (0.0.20220316) predates the TUN
# offloads; bookworm-backports' build has them. It is fetched with apt against a source list of
# its own (apt checks the archive's signature) and unpacked into .tools/wireguard-go: nothing is
# installed or added to the system's sources. hangar falls back to the system's if this fails.
WG_GO=.tools/wireguard-go/wireguard-go
if [ ! -x "$WG_GO" ] && [ "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" = bookworm ]; then
  echo "setup-guest: fetching wireguard-go from bookworm-backports" >&2
  work=$(mktemp -d)
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main" > "$work/sources.list"
  own_apt=(-o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o APT::Sandbox::User=root)
  # Copied under another name, then renamed: a copy cut short never passes for the binary.
  if ! { apt-get "${own_apt[@]}" update -qq && (cd "$work" && apt-get "${own_apt[@]}" download -qq wireguard-go/bookworm-backports) \
    && dpkg -x "$work"/wireguard-go_*.deb "$work/root" \
    && install -D -m 755 "$work/root/usr/bin/wireguard-go" "$WG_GO.part" && mv "$WG_GO.part" "$WG_GO"; }; then
    rm -f "$WG_GO.part"
    echo "setup-guest: could not fetch wireguard-go from bookworm-backports; the system's will be used" >&2
  fi
  rm -rf "$work"
fi
echo "setup-guest: done (kernel $(cat "$GUEST/kernel-release"), $(qemu-system-x86_64 --version | head -1))" >&2
