#!/usr/bin/env bash
# Installs Berth (deploy/install.sh) and what the tests use, and runs every test: lint,
# generated-code check, unit tests, then end-to-end tests against real runc, registry, ctr.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash deploy/install.sh
# What only the tests use: a real registry, busybox for test images, umoci and skopeo,
# protoc and the Go protobuf sources (the generated-code check), containerd (ctr, its
# runc shim and side-by-side runs), Docker Engine (a real client of berthd) and procps (ps,
# pgrep); then the real peer programs built from the Go module proxy (crictl, critest),
# cached by version.
test_packages=(docker-registry busybox-static umoci skopeo
  protobuf-compiler libprotobuf-dev golang-github-containerd-containerd-dev
  golang-github-gogo-protobuf-dev golang-github-gogo-googleapis-dev
  containerd docker.io procps)
missing=()
for p in "${test_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing Debian packages for the tests: ${missing[*]}"
  apt-get update -qq
  # Debian starts the containerd service on install where it can; the tests run their own.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
PATH=$PATH:/usr/local/go/bin bash scripts/peer-tools.sh
pnpm run -s lint
bash scripts/check-generated.sh
pnpm run -s test:unit
pnpm run -s test:e2e
