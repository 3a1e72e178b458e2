#!/usr/bin/env bash
# Installs the real peer programs the tests drive Berth with — crictl and critest from
# cri-tools (an older and a current release) and kubelet — built from the Go module proxy at pinned
# versions. Each build is cached by version under $BERTH_PEER_CACHE
# (/var/cache/berth/peers): a warm run builds nothing. Prints nothing but progress.
#
#   scripts/peer-tools.sh            build what is missing
#   scripts/peer-tools.sh --list     print "name version path" for every pinned tool
set -euo pipefail
cache=${BERTH_PEER_CACHE:-/var/cache/berth/peers}

# name  module  package  version  how: "install" (go install), "test" (a test binary, go test -c)
# or "kubernetes" (a k8s.io/kubernetes command: its staging modules replaced by their releases)
tools=(
  "crictl  sigs.k8s.io/cri-tools  sigs.k8s.io/cri-tools/cmd/crictl  v1.34.0 install"
  "critest sigs.k8s.io/cri-tools  sigs.k8s.io/cri-tools/cmd/critest v1.34.0 test"
  "crictl  sigs.k8s.io/cri-tools  sigs.k8s.io/cri-tools/cmd/crictl  v1.37.0 install"
  "critest sigs.k8s.io/cri-tools  sigs.k8s.io/cri-tools/cmd/critest v1.37.0 test"
  "kubelet k8s.io/kubernetes      k8s.io/kubernetes/cmd/kubelet      v1.34.4 kubernetes"
)

path_of() { echo "$cache/$1-$2/$1"; }

if [ "${1:-}" = "--list" ]; then
  for t in "${tools[@]}"; do
    read -r name _ _ version _ <<<"$t"
    echo "$name $version $(path_of "$name" "$version")"
  done
  exit 0
fi

command -v go >/dev/null || { echo "peer-tools: no Go toolchain on PATH (it is needed to build crictl and critest; /usr/local/go/bin?)" >&2; exit 1; }
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
  elif [ "$how" = kubernetes ]; then
    # k8s.io/kubernetes replaces its k8s.io/* modules with ./staging paths that a module
    # download lacks: a throwaway module requires it with each of them replaced by the
    # release of the same minor (v1.34.4 -> v0.34.4), then builds the command, stamped.
    build() {
      local staging="v0.${version#v1.}" minor mod
      minor=${version#v1.} && minor=${minor%%.*}
      mod=$(go mod download -json "$module@$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
      [ -n "$mod" ] || return 1
      (cd "$tmp" && go mod init berth-peer-build >/dev/null 2>&1 &&
        printf 'package main\n\nfunc main() {}\n' >main.go &&
        { echo "require $module $version"; echo "replace ("
          sed -n "s|^\t\(k8s.io/[^ ]*\) => ./staging/.*|\t\1 => \1 $staging|p" "$mod"; echo ")"; } >>go.mod &&
        go mod tidy >/dev/null && go get "$package@$version" 2>&1 >/dev/null | { grep -v "^go: added" >&2 || true; } &&
        go build -o "$tmp/$name" -ldflags "-X k8s.io/component-base/version.gitVersion=$version \
          -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
          -X k8s.io/component-base/version.gitTreeState=clean" "$package")
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
  mv "$tmp/$name" "$bin"
  rm -rf "$tmp"
done
