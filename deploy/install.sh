#!/usr/bin/env bash
# Installs Berth on a Debian 12 machine with Node 20 and npm, as a node component that no
# longer needs this clone: the Debian packages Berth runs with, pnpm, the build, then a
# self-contained release (the built JavaScript and its production node_modules) in
# $BERTH_PREFIX/releases/<version>-<commit>-<time>, with `current` pointing at it; wrappers
# in $BERTH_BINDIR running `current`; default configs in $BERTH_ETC and $CRICTL_CONFIG
# (existing ones are kept); systemd units in $SYSTEMD_DIR.
#
# Each install is a new release directory: running shims keep the files of the release
# they started from (they import some modules lazily). Older releases are removed once no
# process uses them; the previous one is always kept.
#
#   --start      also start the daemons with their default configuration (through systemd
#                when it is PID 1, otherwise in the background with logs in /var/log/berth)
#   --no-build   install the clone's build as it is: no Debian packages, pnpm or build
#   --uninstall  remove the wrappers, the prefix and the units; configs ($BERTH_ETC,
#                $CRICTL_CONFIG) and state (/var/lib/berth*, /run/berth*) are kept
#   --force      with --uninstall: remove the prefix even while processes still use it
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
prefix=${BERTH_PREFIX:-/usr/local/lib/berth}
bindir=${BERTH_BINDIR:-/usr/local/bin}
etc=${BERTH_ETC:-/etc/berth}
systemd_dir=${SYSTEMD_DIR:-/etc/systemd/system}
crictl_config=${CRICTL_CONFIG:-/etc/crictl.yaml}
start=0 build=1 uninstall=0 force=0
for arg in "$@"; do
  case "$arg" in
    --start) start=1 ;;
    --no-build) build=0 ;;
    --uninstall) uninstall=1 ;;
    --force) force=1 ;;
    -h|--help) echo "usage: deploy/install.sh [--start] [--no-build] | --uninstall [--force]"; exit 0 ;;
    *) echo "install: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "install: run as root (it installs packages and binaries)" >&2; exit 1; }
log() { printf '==> %s\n' "$*"; }
programs=(berthd berth-cri berthctl containerd-shim-berth-v2)
units=(berthd.service berth-cri.service)
# systemctl only for the system's own unit directory, never for one given for a test.
use_systemctl() { [ "$systemd_dir" = /etc/systemd/system ] && [ -d /run/systemd/system ]; }

# Pids of the processes that use a release directory: started from it (the wrappers set
# BERTH_RELEASE), or with one of its files mapped (native modules) or as their command.
release_users() { # dir
  local dir=$1 p pid
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" = $$ ] && continue
    if { tr '\0' '\n' < "$p/environ" | grep -qxF "BERTH_RELEASE=$dir"; } 2>/dev/null ||
      grep -qF "$dir/" "$p/maps" 2>/dev/null ||
      { tr '\0' '\n' < "$p/cmdline" | grep -qF "$dir/"; } 2>/dev/null; then
      echo "$pid"
    fi
  done
}

# Only files this script (or the clone-running one before it) wrote.
is_berth_wrapper() { [ -f "$1" ] && grep -q 'packages/[a-z]*/dist/main.js' "$1"; }

if [ "$uninstall" = 1 ]; then
  if [ -d "$prefix/releases" ] && [ "$force" = 0 ]; then
    users=()
    for dir in "$prefix"/releases/*/; do
      [ -d "$dir" ] || continue
      mapfile -t -O "${#users[@]}" users < <(release_users "${dir%/}")
    done
    if [ ${#users[@]} -gt 0 ]; then
      echo "install: processes still run from $prefix (pids ${users[*]}): stop the daemons and" \
        "remove the containers first, or pass --force to remove it anyway" >&2
      exit 1
    fi
  fi
  if use_systemctl; then
    for u in "${units[@]}"; do
      [ -f "$systemd_dir/$u" ] && systemctl disable --now "$u" || true
    done
  fi
  for u in "${units[@]}"; do rm -f "$systemd_dir/$u"; done
  use_systemctl && systemctl daemon-reload
  for p in "${programs[@]}"; do
    if is_berth_wrapper "$bindir/$p"; then rm -f "$bindir/$p"; fi
  done
  rm -rf "$prefix"
  log "removed Berth's programs ($bindir), $prefix and its units ($systemd_dir)"
  log "kept configs ($etc, $crictl_config) and state (/var/lib/berth, /var/lib/berth-cri, /run/berth*)"
  exit 0
fi

if [ "$build" = 1 ]; then
  # What Berth runs with. Debian's containerd is not needed: install it for ctr, or for
  # containerd-shim-runc-v2 (the io.containerd.runc.v2 runtime, optional).
  packages=(systemd runc containernetworking-plugins iptables iproute2 util-linux mount kmod)
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq
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
fi
cd "$here"
for p in core cri cli shim; do
  [ -f "packages/$p/dist/main.js" ] || { echo "install: packages/$p is not built: run pnpm run build" >&2; exit 1; }
done
[ -f build-info.json ] || node scripts/build-info.mjs

version=$(node -p "require('./build-info.json').version")
revision=$(node -p "require('./build-info.json').revision")
name="$version-${revision:0:12}$([[ $revision == *.m ]] && echo .m)-$(date -u +%Y%m%d%H%M%S)"
while [ -e "$prefix/releases/$name" ]; do name="$name.1"; done
release="$prefix/releases/$name"
stage="$prefix/releases/.$name.tmp"
log "installing release $name into $prefix"
mkdir -p "$prefix/releases"
rm -rf "$stage"
mkdir -p "$stage/packages"
# The workspace without its tests and sources: the production dependencies are installed
# from the lockfile, and the workspace packages link to each other inside the release.
cp package.json pnpm-lock.yaml build-info.json "$stage/"
sed '/^ *- *"\{0,1\}e2e"\{0,1\} *$/d' pnpm-workspace.yaml > "$stage/pnpm-workspace.yaml"
for dir in packages/*/; do
  p=$(basename "$dir")
  mkdir -p "$stage/packages/$p"
  cp "$dir/package.json" "$stage/packages/$p/"
  tar -C "$dir" --exclude='*.test.js' --exclude='*.d.ts' --exclude='*.map' -cf - dist | tar -C "$stage/packages/$p" -xf -
done
mkdir -p "$stage/docs"
cp docs/*.md "$stage/docs/"
(cd "$stage" && CI=true pnpm install --prod --frozen-lockfile --prefer-offline --ignore-scripts --reporter=silent)
mv "$stage" "$release"

previous=""
[ -L "$prefix/current" ] && previous=$(readlink -f "$prefix/current")
ln -sfn "releases/$name" "$prefix/current.new"
mv -T "$prefix/current.new" "$prefix/current"

log "installing programs into $bindir"
mkdir -p "$bindir"
node_bin=$(command -v node)
install_bin() { # name package [node flags]
  cat > "$bindir/.$1.new" <<SCRIPT
#!/bin/sh
# Berth's $1, from deploy/install.sh: runs the current release in $prefix.
release=\$(readlink -f "$prefix/current") && [ -f "\$release/packages/$2/dist/main.js" ] ||
  { echo "$1: no Berth release in $prefix: run deploy/install.sh" >&2; exit 1; }
BERTH_RELEASE=\$release BERTH_PROGRAM="$bindir/$1" exec "$node_bin" ${3:+$3 }"\$release/packages/$2/dist/main.js" "\$@"
SCRIPT
  chmod 0755 "$bindir/.$1.new"
  mv -f "$bindir/.$1.new" "$bindir/$1"
}
# The daemons run with a 4 MiB young generation (V8's default is 16): bursts of calls
# leave tens of MiB less resident, for a few more cheap scavenges. The shim sets its own.
daemon_flags="--max-semi-space-size=4"
install_bin berthd core "$daemon_flags"
install_bin berth-cri cri "$daemon_flags"
install_bin berthctl cli
install_bin containerd-shim-berth-v2 shim

mkdir -p "$etc"
# Keys earlier releases wrote that berthd no longer reads (it refuses unknown keys).
if grep -q '^defaultSnapshotter:' "$etc/berthd.yaml" 2>/dev/null; then
  log "removing defaultSnapshotter from $etc/berthd.yaml: berthd no longer reads it (clients name their snapshotter)"
  sed -i '/^defaultSnapshotter:/d' "$etc/berthd.yaml"
fi
for f in deploy/*.yaml; do
  [ -e "$etc/$(basename "$f")" ] || install -m 0644 "$f" "$etc/$(basename "$f")"
done
if [ ! -e "$crictl_config" ]; then
  mkdir -p "$(dirname "$crictl_config")"
  cat > "$crictl_config" <<YAML
# crictl (and berthctl cri) talk to Berth's CRI daemon.
runtime-endpoint: unix:///run/berth/cri.sock
image-endpoint: unix:///run/berth/cri.sock
timeout: 10
YAML
fi
if [ -d "$systemd_dir" ] || [ "$systemd_dir" != /etc/systemd/system ]; then
  mkdir -p "$systemd_dir"
  for unit in "${units[@]}"; do
    sed -e "s|/usr/local/bin/|$bindir/|g" -e "s|/etc/berth/|$etc/|g" -e "s|/usr/local/lib/berth/|$prefix/|g" \
      "deploy/$unit" > "$systemd_dir/$unit"
  done
  use_systemctl && systemctl daemon-reload
fi

# Old releases no process uses; the one just replaced stays, to go back to.
for dir in "$prefix"/releases/*/; do
  dir=${dir%/}
  [ "$dir" = "$release" ] || [ "$dir" = "$previous" ] && continue
  if [ -n "$(release_users "$dir")" ]; then
    log "keeping release $(basename "$dir"): still in use"
  else
    rm -rf "$dir"
  fi
done
for p in berthd berth-cri; do
  if command -v pgrep >/dev/null && pgrep -x "$p" >/dev/null; then
    log "$p is running: restart it to run release $name (containers and shims keep running)"
  fi
done
log "installed Berth $version ($revision)"

[ "$start" = 1 ] || exit 0
daemons=(berthd berth-cri)
if use_systemctl; then
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
  setsid nohup "$bindir/$d" >>"/var/log/berth/$d.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
done
sock=/run/berth/berthd.sock
for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { echo "install: berthd did not create $sock; see /var/log/berth/berthd.log" >&2; exit 1; }
log "berthd is serving on $sock"
