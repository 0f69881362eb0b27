#!/usr/bin/env bash
# Builds the guest kernel from Debian's linux-source-6.1 with patches/*.patch applied: allnoconfig + fragments/*.config,
# verified, cached by content hash (of the source version, the compiler, the fragments and the patches).
# Prints the cache directory holding vmlinux (PVH, what QEMU microvm boots), bzImage and config.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${HYPER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hyper}/kernel
jobs=${HYPER_KERNEL_JOBS:-$(nproc)}
start=$(date +%s)
say() { printf '[kernel] %s\n' "$*" >&2; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo

need=(linux-source-6.1 build-essential flex bison bc libelf-dev cpio lz4 patch)
missing=(); for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
merged=$(mktemp); trap 'rm -f "$merged"' EXIT
for f in "$here"/fragments/*.config; do grep -v '^\s*$' "$f"; done > "$merged"
# bump when this script changes what it builds (not for cosmetic edits: a new key means a 6-minute rebuild)
BUILD_FORMAT=2
patches=()
for p in "$here"/patches/*.patch; do [ -f "$p" ] && patches+=("$p"); done
key=$( { echo "format $BUILD_FORMAT"; echo "$srcver"; gcc -dumpfullversion; cat "$merged"; [ ${#patches[@]} -eq 0 ] || cat "${patches[@]}"; } | sha256sum | cut -c1-16)
out="$cache/$key"
if [ -s "$out/vmlinux" ]; then
  say "cached: $out (fragments, patches and linux-source $srcver unchanged)"
  ln -sfn "$key" "$cache/latest"; echo "$out"; exit 0
fi

src="$cache/src-$srcver"
if [ ! -f "$src/Makefile" ]; then
  say "unpacking linux-source $srcver"
  rm -rf "$src.tmp" && mkdir -p "$src.tmp"
  tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$src.tmp" --strip-components=1
  mv "$src.tmp" "$src"
fi
# the patched tree: hard links to the pristine one, each file a patch changes written anew (patch breaks the link)
if [ ${#patches[@]} -gt 0 ]; then
  psrc="$src-p$(cat "${patches[@]}" | sha256sum | cut -c1-12)"
  if [ ! -f "$psrc/.hyper-patched" ]; then
    say "applying ${#patches[@]} patch(es): $(for p in "${patches[@]}"; do basename "$p"; done | tr '\n' ' ')"
    rm -rf "$psrc.tmp" && cp -al "$src" "$psrc.tmp"
    for p in "${patches[@]}"; do
      patch -d "$psrc.tmp" -p1 -s --no-backup-if-mismatch < "$p" || { say "$(basename "$p") does not apply to linux-source $srcver: refresh it against that tree"; exit 1; }
    done
    touch "$psrc.tmp/.hyper-patched"
    rm -rf "$psrc" && mv "$psrc.tmp" "$psrc"
  fi
  src=$psrc
fi

build="$cache/build-$key"
mkdir -p "$build"
say "configuring: allnoconfig + $(ls "$here"/fragments/*.config | wc -l) fragments"
make -s -C "$src" O="$build" KCONFIG_ALLCONFIG="$merged" allnoconfig >/dev/null

# every option a fragment asks for must be in the final config exactly as asked (Kconfig drops what lacks its dependencies)
bad=0
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=*) grep -qxF "$line" "$build/.config" || { say "missing: $line (got: $(grep -E "^(# )?${line%%=*}[= ]" "$build/.config" || echo 'absent'))"; bad=1; } ;;
    "# CONFIG_"*" is not set") opt=${line#\# }; opt=${opt%% *}; ! grep -q "^$opt=" "$build/.config" || { say "should be off: $opt"; bad=1; } ;;
  esac
done < "$merged"
[ $bad -eq 0 ] || { say "the fragments ask for options Kconfig did not grant: add their dependencies to kernel-config/fragments/"; exit 1; }

total=$(cat "$cache/objects-estimate" 2>/dev/null || echo 0)
say "building vmlinux and bzImage with $jobs jobs (a cold build takes ~6 minutes on 2 cores)"
make -C "$src" O="$build" -j"$jobs" vmlinux bzImage 2>&1 | awk -v total="$total" -v start="$start" -v tty="$([ -t 2 ] && echo 1 || echo 0)" '
  / (CC|AS|LD|AR)  / { n++ }
  /: error:|\*\*\* / { print > "/dev/stderr" }
  { now = systime(); if (now - last >= (tty ? 1 : 15)) { last = now
      msg = total > 0 ? sprintf("[kernel] %d/~%d objects, %ds", n, total, now - start) : sprintf("[kernel] %d objects, %ds", n, now - start)
      if (tty) printf "\r%s", msg > "/dev/stderr"; else print msg > "/dev/stderr" } }
  END { if (tty) printf "\n" > "/dev/stderr"; print n > "'"$cache/objects-estimate"'" }'
[ "${PIPESTATUS[0]}" -eq 0 ] || { say "build failed; the log above names the file"; exit 1; }

mkdir -p "$out.tmp"
cp "$build/vmlinux" "$build/arch/x86/boot/bzImage" "$out.tmp/"
cp "$build/.config" "$out.tmp/config"
echo "$srcver" > "$out.tmp/linux-source-version"
rm -rf "$out" && mv "$out.tmp" "$out"
ln -sfn "$key" "$cache/latest"
say "done in $(( $(date +%s) - start ))s: vmlinux $(du -h "$out/vmlinux" | cut -f1), bzImage $(du -h "$out/bzImage" | cut -f1)"
echo "$out"
