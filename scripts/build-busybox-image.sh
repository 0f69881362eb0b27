#!/usr/bin/env bash
# Builds a small OCI image from Debian's static busybox (no network needed) and writes it as an OCI archive that
# `hyper load -i` reads. Usage: build-busybox-image.sh OUT.tar [NAME:TAG]   (default name: busybox:latest)
set -euo pipefail
out=${1:?usage: build-busybox-image.sh OUT.tar [NAME:TAG]}
name=${2:-busybox:latest}
for tool in umoci tar; do command -v $tool >/dev/null || { echo "build-busybox-image: $tool is missing — apt-get install umoci" >&2; exit 1; }; done
[ -x /bin/busybox ] || { echo "build-busybox-image: /bin/busybox is missing — apt-get install busybox-static" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umoci init --layout "$work/oci"
umoci new --image "$work/oci:$name"
umoci unpack --rootless --image "$work/oci:$name" "$work/bundle" >/dev/null
root="$work/bundle/rootfs"
mkdir -p "$root"/{bin,etc,proc,sys,dev,tmp,root,run}
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
: > "$root/etc/resolv.conf"
chmod 1777 "$root/tmp"
umoci repack --image "$work/oci:$name" "$work/bundle"
umoci config --image "$work/oci:$name" --config.cmd sh --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --architecture "$(dpkg --print-architecture)" --os linux
umoci gc --layout "$work/oci"
tar -C "$work/oci" -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "$out"
