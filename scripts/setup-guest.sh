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
echo "setup-guest: done (kernel $(cat "$GUEST/kernel-release"), $(qemu-system-x86_64 --version | head -1))" >&2
