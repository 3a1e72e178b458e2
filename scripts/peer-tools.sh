#!/usr/bin/env bash
# Installs the real peer programs the tests drive Berth with — crictl and critest from
# cri-tools (an older and a current release) — built from the Go module proxy at pinned
# versions. Each build is cached by version under $BERTH_PEER_CACHE
# (/var/cache/berth/peers): a warm run builds nothing. Prints nothing but progress.
# critest is a Go test binary (cri-tools builds it with `go test -c`); its --parallel mode
# runs the `ginkgo` command, so the ginkgo of cri-tools' go.mod is built beside it.
#
#   scripts/peer-tools.sh            build what is missing
#   scripts/peer-tools.sh --list     print "name version path" for every pinned tool
set -euo pipefail
cache=${BERTH_PEER_CACHE:-/var/cache/berth/peers}

# name  module-path                 package                         version
tools=(
  "crictl  sigs.k8s.io/cri-tools  sigs.k8s.io/cri-tools/cmd/crictl  v1.34.0"
  "critest sigs.k8s.io/cri-tools  sigs.k8s.io/cri-tools/cmd/critest v1.34.0"
  "crictl  sigs.k8s.io/cri-tools  sigs.k8s.io/cri-tools/cmd/crictl  v1.37.0"
  "critest sigs.k8s.io/cri-tools  sigs.k8s.io/cri-tools/cmd/critest v1.37.0"
)

path_of() { echo "$cache/$1-$2/$1"; }

if [ "${1:-}" = "--list" ]; then
  for t in "${tools[@]}"; do
    read -r name _ _ version <<<"$t"
    echo "$name $version $(path_of "$name" "$version")"
  done
  exit 0
fi

command -v go >/dev/null || { echo "peer-tools: no Go toolchain on PATH (it is needed to build crictl and critest; /usr/local/go/bin?)" >&2; exit 1; }
# build NAME MODULE PACKAGE VERSION DIR: the tool's binaries into DIR. (It runs as an `if`
# condition, where `set -e` does not act: each step returns on failure itself.)
build() {
  local name=$1 module=$2 package=$3 version=$4 out=$5 dir ginkgo
  if [ "$name" != critest ]; then
    GOBIN="$out" GOFLAGS=-buildvcs=false go install "$package@$version"
    return
  fi
  dir=$(go mod download -json "$module@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p') || return 1
  [ -d "$dir" ] || { echo "peer-tools: no module directory for $module@$version" >&2; return 1; }
  (cd "$dir" && GOFLAGS=-buildvcs=false go test -c -o "$out/critest" \
    -ldflags "-X $module/pkg/version.Version=$version" "./${package#"$module"/}") || return 1
  ginkgo=$(awk '$1 == "github.com/onsi/ginkgo/v2" { print $2 }' "$dir/go.mod")
  [ -n "$ginkgo" ] || { echo "peer-tools: no ginkgo in $dir/go.mod" >&2; return 1; }
  GOBIN="$out" GOFLAGS=-buildvcs=false go install "github.com/onsi/ginkgo/v2/ginkgo@$ginkgo"
}

mkdir -p "$cache"
for t in "${tools[@]}"; do
  read -r name module package version <<<"$t"
  bin=$(path_of "$name" "$version")
  # A critest without its ginkgo beside it cannot run in parallel: built again.
  [ -x "$bin" ] && { [ "$name" != critest ] || [ -x "$(dirname "$bin")/ginkgo" ]; } && continue
  printf '==> building %s %s from the Go module proxy (cached in %s)\n' "$name" "$version" "$(dirname "$bin")"
  tmp=$(mktemp -d "$cache/.build-XXXXXX")
  # Built into a temp dir and moved, so a build cut short never looks cached.
  if ! build "$name" "$module" "$package" "$version" "$tmp"; then
    rm -rf "$tmp"
    echo "peer-tools: building $package@$version failed (see above); the module proxy must serve it" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$bin")"
  # The tool itself last: its presence is what marks the build cached.
  for f in "$tmp"/*; do [ "$f" = "$tmp/$name" ] || mv "$f" "$(dirname "$bin")/"; done
  mv "$tmp/$name" "$bin"
  rm -rf "$tmp"
done
