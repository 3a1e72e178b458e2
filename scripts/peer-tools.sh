#!/usr/bin/env bash
# Installs the real peer programs the tests drive Berth with — crictl and critest from
# cri-tools (an older and a current release), kubelet, grpcurl and grpc_health_probe —
# built from the Go module proxy at pinned versions. Each build is cached by version
# under $BERTH_PEER_CACHE (/var/cache/berth/peers): a warm run builds nothing.
#
#   scripts/peer-tools.sh            build what is missing
#   scripts/peer-tools.sh --list     print "name version path" for every pinned tool
set -euo pipefail
cache=${BERTH_PEER_CACHE:-/var/cache/berth/peers}

# name  module  package  version  how:
#   install     go install PACKAGE@VERSION
#   critest     a Go test binary (cri-tools builds it with `go test -c`), version-stamped;
#               its --parallel mode runs `ginkgo`, so the ginkgo of its go.mod goes beside it
#   kubernetes  a k8s.io/kubernetes command, its staging modules replaced by their releases
tools=(
  "crictl  sigs.k8s.io/cri-tools  sigs.k8s.io/cri-tools/cmd/crictl  v1.34.0 install"
  "critest sigs.k8s.io/cri-tools  sigs.k8s.io/cri-tools/cmd/critest v1.34.0 critest"
  "crictl  sigs.k8s.io/cri-tools  sigs.k8s.io/cri-tools/cmd/crictl  v1.37.0 install"
  "critest sigs.k8s.io/cri-tools  sigs.k8s.io/cri-tools/cmd/critest v1.37.0 critest"
  "kubelet k8s.io/kubernetes      k8s.io/kubernetes/cmd/kubelet      v1.34.4 kubernetes"
  "grpcurl github.com/fullstorydev/grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl v1.9.4 install"
  "grpc_health_probe github.com/grpc-ecosystem/grpc-health-probe github.com/grpc-ecosystem/grpc-health-probe v0.4.63 install"
)

path_of() { echo "$cache/$1-$2/$1"; }

if [ "${1:-}" = "--list" ]; then
  for t in "${tools[@]}"; do
    read -r name _ _ version _ <<<"$t"
    echo "$name $version $(path_of "$name" "$version")"
  done
  exit 0
fi

# build NAME MODULE PACKAGE VERSION HOW DIR: the tool's binaries into DIR, the tool itself
# as DIR/NAME. (It runs as an `if` condition, where `set -e` does not act: each step
# returns on failure itself.)
build() {
  local name=$1 module=$2 package=$3 version=$4 how=$5 out=$6 dir ginkgo mod minor
  case "$how" in
    install)
      GOBIN="$out" go install "$package@$version" || return 1
      # go install names the binary after the package's last element (grpc-health-probe).
      [ -x "$out/$name" ] || mv "$out/$(basename "$package")" "$out/$name"
      ;;
    critest)
      dir=$(go mod download -json "$module@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p') || return 1
      [ -d "$dir" ] || { echo "peer-tools: no module directory for $module@$version" >&2; return 1; }
      (cd "$dir" && go test -c -o "$out/$name" \
        -ldflags "-X $module/pkg/version.Version=$version" "./${package#"$module"/}") || return 1
      ginkgo=$(awk '$1 == "github.com/onsi/ginkgo/v2" { print $2 }' "$dir/go.mod")
      [ -n "$ginkgo" ] || { echo "peer-tools: no ginkgo in $dir/go.mod" >&2; return 1; }
      GOBIN="$out" go install "github.com/onsi/ginkgo/v2/ginkgo@$ginkgo"
      ;;
    kubernetes)
      # k8s.io/kubernetes replaces its k8s.io/* modules with ./staging paths that a module
      # download lacks: a throwaway module requires it with each of them replaced by the
      # release of the same minor (v1.34.4 -> v0.34.4), then builds the command, stamped.
      minor=${version#v1.} && minor=${minor%%.*}
      mod=$(go mod download -json "$module@$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p') || return 1
      [ -n "$mod" ] || return 1
      dir=$(mktemp -d) || return 1
      (cd "$dir" && go mod init berth-peer-build >/dev/null 2>&1 &&
        printf 'package main\n\nfunc main() {}\n' >main.go &&
        { echo "require $module $version"; echo "replace ("
          sed -n "s|^\t\(k8s.io/[^ ]*\) => ./staging/.*|\t\1 => \1 v0.${version#v1.}|p" "$mod"; echo ")"; } >>go.mod &&
        go mod tidy >/dev/null && go get "$package@$version" >/dev/null &&
        go build -o "$out/$name" -ldflags "-X k8s.io/component-base/version.gitVersion=$version \
          -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
          -X k8s.io/component-base/version.gitTreeState=clean" "$package")
      local rc=$?
      rm -rf "$dir"
      return $rc
      ;;
    *) echo "peer-tools: unknown build method $how" >&2; return 1 ;;
  esac
}

cached() { # NAME HOW BIN: built already (a critest needs its ginkgo beside it)
  [ -x "$3" ] && { [ "$2" != critest ] || [ -x "$(dirname "$3")/ginkgo" ]; }
}

command -v go >/dev/null || { echo "peer-tools: no Go toolchain on PATH (it is needed to build the peer tools; /usr/local/go/bin?)" >&2; exit 1; }
export GOFLAGS=-buildvcs=false
mkdir -p "$cache"
for t in "${tools[@]}"; do
  read -r name module package version how <<<"$t"
  bin=$(path_of "$name" "$version")
  cached "$name" "$how" "$bin" && continue
  printf '==> building %s %s from the Go module proxy (cached in %s)\n' "$name" "$version" "$(dirname "$bin")"
  # Built into a temp dir and moved, so a build cut short never looks cached.
  tmp=$(mktemp -d "$cache/.build-XXXXXX")
  if ! build "$name" "$module" "$package" "$version" "$how" "$tmp"; then
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
