#!/usr/bin/env bash
# Names the callers of the guest kernel's slab allocations in one size class by breaking on the kmalloc entry points through
# QEMU's gdb stub (TCG) while the real guest boots; prints "count size caller", largest first. No kernel rebuild needed.
#   kernel-config/tools/trace-kmalloc.sh [MIN_BYTES] [MAX_BYTES] [SECONDS]     (default: the kmalloc-4k class, 30 s)
set -euo pipefail
min=${1:-2049} max=${2:-4096} secs=${3:-30}
vmlinux=${HYPER_KERNEL_VMLINUX:-$HOME/.cache/hyper/kernel/latest/vmlinux}
initrd=${HYPER_INITRD:-$(cd "$(dirname "$0")/../.." && pwd)/guest-agent/build/initramfs.cpio.lz4}
for f in "$vmlinux" "$initrd"; do [[ -f $f ]] || { echo "trace-kmalloc: $f is missing — build the guest first: npm run build:guest" >&2; exit 1; }; done
command -v gdb >/dev/null || { echo "trace-kmalloc: gdb is missing — apt-get install gdb" >&2; exit 1; }

work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
trap 'kill "$qemu" 2>/dev/null || true; rm -rf "$work"' EXIT

# entry points of kmalloc in 6.1 and the register holding the requested size in each (SysV calling convention)
probe() { printf 'break %s if %s >= %d && %s <= %d\ncommands\nsilent\nprintf "%%d ", %s\nx/a $sp\ncont\nend\n' "$1" "$2" "$min" "$2" "$max" "$2"; }
{
  echo "set pagination off"; echo "set confirm off"; echo "target remote :$port"
  probe __kmalloc '$rdi'; probe __kmalloc_node '$rdi'; probe kmalloc_trace '$rdx'; probe kmalloc_node_trace '$rcx'
  echo cont
} >"$work/cmds.gdb"

qemu-system-x86_64 -M microvm,x-option-roms=off,isa-serial=on,acpi=off -accel tcg -cpu max -smp 1 -m 128 \
  -nodefaults -no-user-config -nographic -no-reboot -kernel "$vmlinux" -initrd "$initrd" \
  -append "console=ttyS0 quiet panic=-1 reboot=t lpj=4000000 tsc=reliable no_timer_check 8250.nr_uarts=1 rdinit=/init nolapic_timer" \
  -serial "file:$work/console.log" -device virtio-serial-device,max_ports=2 \
  -chardev "socket,id=agent,path=$work/agent.sock,server=on,wait=off" -device virtserialport,chardev=agent,name=hyper.agent \
  -device virtio-rng-device -gdb "tcp:127.0.0.1:$port" -S &
qemu=$!
sleep 0.5
echo "trace-kmalloc: tracing ${min}..${max}-byte allocations for ${secs} s (the guest boots slowly under the debugger)" >&2
timeout "$secs" gdb -q -batch -x "$work/cmds.gdb" "$vmlinux" >"$work/gdb.out" 2>&1 || true
# lines look like: 4096 0xffff...:	<alloc_buf.constprop.0+99>:	0x... (size, stack slot, return address, word)
grep -E '^[0-9]+ 0x' "$work/gdb.out" | awk '{print $1, $4}' | tr -d ':<>' | sort | uniq -c | sort -rn
