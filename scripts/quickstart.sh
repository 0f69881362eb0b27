#!/usr/bin/env bash
# The README's first command: set up, build the guest, import a busybox image, start hyperd (embedded NATS, QEMU driver)
# unless one runs, and run a pod that prints a greeting from inside its own VM.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

say "building the guest kernel (cached; ~6-10 minutes the first time) and agent"
npm run -s build:guest

HYPER="node bin/hyper.cjs"
DATA="${HYPER_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/hyper}"
mkdir -p "$DATA"
say "importing busybox into the local image store"
./scripts/import-busybox.sh "$DATA" >/dev/null

if ! $HYPER version 2>/dev/null | grep -q '^nats-server'; then
  say "starting hyperd (embedded NATS, QEMU driver; data in $DATA, log in $DATA/hyperd.log)"
  nohup node dist/src/daemon/main.js --data-dir "$DATA" --driver qemu >"$DATA/hyperd.log" 2>&1 &
  for _ in $(seq 1 300); do
    grep -q '"hyperd ready"' "$DATA/hyperd.log" 2>/dev/null && break
    grep -q '"level":60' "$DATA/hyperd.log" 2>/dev/null && { cat "$DATA/hyperd.log" >&2; exit 1; }
    sleep 0.1
  done
  $HYPER info | grep accelerator >&2
fi

say "hyper run busybox sh -c 'echo hello from a VM …'"
$HYPER run --name "hello-$(date +%s)" busybox sh -c 'echo "hello from a VM: $(uname -sr), $(nproc) vCPU, hostname $(hostname)"'
say "hyper ps -a"
$HYPER ps -a
printf '\n\033[1mhyperd keeps running; stop it with: kill %s\033[0m\n' "$(node -e "console.log(JSON.parse(require('fs').readFileSync('$DATA/hyperd.json','utf8')).pid)")" >&2
