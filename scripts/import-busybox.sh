#!/usr/bin/env bash
# Builds the small busybox OCI image (scripts/build-busybox-image.sh) and loads it into a data dir's image store as
# "busybox", the way the quickstart and benchmarks get an image with no registry. Usage: import-busybox.sh DATA_DIR
set -euo pipefail
data=${1:?usage: import-busybox.sh DATA_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$data"
"$here/build-busybox-image.sh" "$data/busybox-image.tar" busybox:latest >/dev/null
node "$here/../bin/hyper.cjs" load --data-dir "$data" -q -i "$data/busybox-image.tar"
