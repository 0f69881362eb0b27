#!/usr/bin/env bash
# The README's first command: set up, start a local hyperd on an embedded NATS (if none runs), run a pod, and show what happened.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

HYPER="node dist/src/cli/main.js"
DATA="${HYPER_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/hyper}"
mkdir -p "$DATA"
if ! $HYPER version 2>/dev/null | grep -q '^nats-server'; then
  printf '\033[1m==> starting hyperd (embedded NATS, data in %s, log in %s/hyperd.log)\033[0m\n' "$DATA" "$DATA" >&2
  nohup node dist/src/daemon/main.js --data-dir "$DATA" >"$DATA/hyperd.log" 2>&1 &
  for _ in $(seq 1 100); do
    grep -q '"hyperd ready"' "$DATA/hyperd.log" 2>/dev/null && break
    sleep 0.1
  done
fi

printf '\033[1m==> hyper run busybox echo hello\033[0m\n' >&2
# the hollow driver (the only one until the QEMU driver lands) runs no code: this pod "exits" after 200 ms
$HYPER run --name "hello-$(date +%s)" -l hollow.exit-after-ms=200 busybox echo hello
printf '\033[1m==> hyper ps -a\033[0m\n' >&2
$HYPER ps -a
printf '\033[1m==> hyper hosts\033[0m\n' >&2
$HYPER hosts
printf '\n\033[1mhyperd keeps running; stop it with: kill %s\033[0m\n' "$(node -e "console.log(JSON.parse(require('fs').readFileSync('$DATA/hyperd.json','utf8')).pid)")" >&2
