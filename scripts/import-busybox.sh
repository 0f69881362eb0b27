#!/usr/bin/env bash
# Puts Debian's static busybox into the local image store as the image "busybox" (an unpacked root filesystem),
# until `hyper load` / `hyper pull` exist. Usage: import-busybox.sh DATA_DIR
set -euo pipefail
data=${1:?usage: import-busybox.sh DATA_DIR}
root="$data/images/busybox/rootfs"
[ -x /bin/busybox ] || { echo "import-busybox: /bin/busybox is missing — apt-get install busybox-static" >&2; exit 1; }
rm -rf "$root.tmp" && mkdir -p "$root.tmp"/{bin,etc,proc,sys,dev,tmp,root,run}
cp /bin/busybox "$root.tmp/bin/busybox"
for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -s busybox "$root.tmp/bin/$applet"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$root.tmp/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root.tmp/etc/group"
: > "$root.tmp/etc/resolv.conf"
chmod 1777 "$root.tmp/tmp"
rm -rf "$root" && mv "$root.tmp" "$root"
echo "$root"
