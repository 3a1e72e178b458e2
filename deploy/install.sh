#!/usr/bin/env bash
# Installs Berth on a Debian 12 machine with Node 20 and npm: Debian packages, pnpm,
# workspace dependencies, the build, binaries in /usr/local/bin, default configs in
# /etc/berth and systemd units. With --start it also starts the daemons with their
# default configuration (through systemd when it is PID 1, otherwise in the background).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
start=0
for arg in "$@"; do
  case "$arg" in
    --start) start=1 ;;
    -h|--help) echo "usage: deploy/install.sh [--start]"; exit 0 ;;
    *) echo "install: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "install: run as root (it installs packages and binaries)" >&2; exit 1; }
log() { printf '==> %s\n' "$*"; }

# Runtime parts, plus what the tests and benchmarks use (real registry, ctr, CNI, protoc).
packages=(systemd runc containerd containernetworking-plugins iptables iproute2 util-linux
  docker-registry busybox-static umoci skopeo
  protobuf-compiler libprotobuf-dev golang-github-containerd-containerd-dev
  golang-github-gogo-protobuf-dev golang-github-gogo-googleapis-dev)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  # Debian starts the containerd service on install where it can; Berth's tests run their own.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

pnpm_version=$(node -p "require('$here/package.json').packageManager.split('@')[1]")
if ! command -v pnpm >/dev/null || [ "$(pnpm --version)" != "$pnpm_version" ]; then
  log "installing pnpm $pnpm_version"
  npm install -g "pnpm@$pnpm_version" --loglevel=error >/dev/null
fi

cd "$here"
log "installing dependencies"
CI=true pnpm install --frozen-lockfile --reporter=silent
log "building"
pnpm run -s build

log "installing binaries into /usr/local/bin"
install_bin() { # name script [node flags]
  cat > "/usr/local/bin/$1" <<SCRIPT
#!/bin/sh
exec node ${3:+$3 }"$here/$2" "\$@"
SCRIPT
  chmod 0755 "/usr/local/bin/$1"
}
# The daemons run with a 4 MiB young generation (V8's default is 16): bursts of calls
# leave tens of MiB less resident, for a few more cheap scavenges. The shim sets its own.
daemon_flags="--max-semi-space-size=4"
install_bin berthd packages/core/dist/main.js "$daemon_flags"
install_bin berthctl packages/cli/dist/main.js
[ -f packages/shim/dist/main.js ] && install_bin containerd-shim-berth-v2 packages/shim/dist/main.js
[ -f packages/cri/dist/main.js ] && install_bin berth-cri packages/cri/dist/main.js "$daemon_flags"

mkdir -p /etc/berth
for f in deploy/*.yaml; do
  [ -e "/etc/berth/$(basename "$f")" ] || install -m 0644 "$f" "/etc/berth/$(basename "$f")"
done
if [ -d /etc/systemd/system ]; then
  for unit in deploy/*.service; do
    sed "s|@BERTH_HOME@|$here|g" "$unit" > "/etc/systemd/system/$(basename "$unit")"
  done
fi

[ "$start" = 1 ] || exit 0
daemons=(berthd)
[ -x /usr/local/bin/berth-cri ] && daemons+=(berth-cri)
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  for d in "${daemons[@]}"; do systemctl enable --now "$d.service"; done
  exit 0
fi
log "systemd is not running: starting ${daemons[*]} in the background (logs in /var/log/berth)"
mkdir -p /var/log/berth
mkdir -p /run/berth
for d in "${daemons[@]}"; do
  pidfile=/run/berth/$d.pid
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    log "$d is already running (pid $(cat "$pidfile"))"
    continue
  fi
  setsid nohup "/usr/local/bin/$d" >>"/var/log/berth/$d.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
done
sock=/run/berth/berthd.sock
for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { echo "install: berthd did not create $sock; see /var/log/berth/berthd.log" >&2; exit 1; }
log "berthd is serving on $sock"
