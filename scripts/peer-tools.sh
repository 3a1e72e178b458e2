#!/usr/bin/env bash
# Installs the real peer programs the tests drive Berth with — crictl and critest from
# cri-tools (an older and a current release), grpcurl and grpc_health_probe — built from
# the Go module proxy at pinned versions. Each build is cached by version under $BERTH_PEER_CACHE
# (/var/cache/berth/peers): a warm run builds nothing. Prints nothing but progress.
#
#   scripts/peer-tools.sh            build what is missing
#   scripts/peer-tools.sh --list     print "name version path" for every pinned tool
set -euo pipefail
cache=${BERTH_PEER_CACHE:-/var/cache/berth/peers}

# name  module  package  version  how: "install" (go install) or "test" (a test binary, go test -c)
tools=(
  "crictl  sigs.k8s.io/cri-tools  sigs.k8s.io/cri-tools/cmd/crictl  v1.34.0 install"
  "critest sigs.k8s.io/cri-tools  sigs.k8s.io/cri-tools/cmd/critest v1.34.0 test"
  "crictl  sigs.k8s.io/cri-tools  sigs.k8s.io/cri-tools/cmd/crictl  v1.37.0 install"
  "critest sigs.k8s.io/cri-tools  sigs.k8s.io/cri-tools/cmd/critest v1.37.0 test"
  "grpcurl github.com/fullstorydev/grpcurl  github.com/fullstorydev/grpcurl/cmd/grpcurl  v1.9.4 install"
  "grpc_health_probe github.com/grpc-ecosystem/grpc-health-probe  github.com/grpc-ecosystem/grpc-health-probe  v0.4.63 install"
)

path_of() { echo "$cache/$1-$2/$1"; }

if [ "${1:-}" = "--list" ]; then
  for t in "${tools[@]}"; do
    read -r name _ _ version _ <<<"$t"
    echo "$name $version $(path_of "$name" "$version")"
  done
  exit 0
fi

command -v go >/dev/null || { echo "peer-tools: no Go toolchain on PATH (it is needed to build the peer tools; /usr/local/go/bin?)" >&2; exit 1; }
mkdir -p "$cache"
for t in "${tools[@]}"; do
  read -r name module package version how <<<"$t"
  bin=$(path_of "$name" "$version")
  [ -x "$bin" ] && continue
  printf '==> building %s %s from the Go module proxy (cached in %s)\n' "$name" "$version" "$(dirname "$bin")"
  tmp=$(mktemp -d "$cache/.build-XXXXXX")
  # Built into a temp dir and moved, so a build cut short never looks cached.
  if [ "$how" = test ]; then
    # A test binary (critest is one) is built from a throwaway module requiring its module.
    build() {
      (cd "$tmp" && go mod init berth-peer-build >/dev/null 2>&1 && go get -t "$package@$version" >/dev/null &&
        go test -c -o "$tmp/$name" "$package")
    }
  else
    build() { GOBIN="$tmp" go install "$package@$version"; }
  fi
  if ! GOFLAGS=-buildvcs=false build; then
    rm -rf "$tmp"
    echo "peer-tools: building $package@$version failed (see above); the module proxy must serve it" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$bin")"
  # go install names the binary after the package's last element (grpc-health-probe).
  mv "$tmp/$(basename "$package")" "$bin"
  rm -rf "$tmp"
done
