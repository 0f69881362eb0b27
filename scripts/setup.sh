#!/usr/bin/env bash
# Installs what hyper needs on Debian 12 (system packages, npm dependencies), builds it, and links `hyper`/`hyperd` onto PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

node_ok() { command -v node >/dev/null && node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; }
if ! node_ok; then
  echo "hyper needs Node.js >= 20.19 (found: $(node --version 2>/dev/null || echo none)); install it and run this again" >&2
  exit 1
fi

# skopeo/umoci: pulling and unpacking images; docker-registry, apache2-utils (htpasswd) and openssl: the tests' local registries (basic and token auth)
# docker-compose and curl: clients of hyperd's Docker API in its tests; the docker CLI too where it is missing (Debian's
# docker.io, whose own daemon is never started)
PACKAGES=(nats-server qemu-system-x86 musl-tools busybox-static lz4 erofs-utils clang libclang-rt-14-dev skopeo umoci docker-registry apache2-utils openssl tmux docker-compose curl)
command -v docker >/dev/null || PACKAGES+=(docker.io)
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # the tests start their own registries on loopback; the package's system-wide one (port 5000) is not wanted
  if [[ " ${missing[*]} " == *" docker-registry "* ]] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
  if [[ " ${missing[*]} " == *" docker.io "* ]] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now docker.service docker.socket containerd.service >/dev/null 2>&1 || true
  fi
fi

say "installing npm dependencies"
npm ci --no-audit --no-fund --loglevel=error

say "building"
npm run --silent build

if npm link --no-audit --no-fund --loglevel=error >/dev/null 2>&1; then
  say "linked: $(command -v hyper) and $(command -v hyperd)"
else
  say "could not link onto PATH (no permission?): use $(pwd)/bin/hyper.cjs"
fi
