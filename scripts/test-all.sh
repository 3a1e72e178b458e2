#!/usr/bin/env bash
# Installs everything (deploy/install.sh) and runs every test: lint, generated-code
# check, unit tests, then end-to-end tests against real runc, registry and ctr.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash deploy/install.sh
# What only the tests use: Docker Engine (a real client of berthd) and the real peer
# programs built from the Go module proxy (crictl, critest), cached by version.
if ! dpkg-query -W -f='${Status}' docker.io 2>/dev/null | grep -q "ok installed"; then
  echo "==> installing Debian packages for the tests: docker.io"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi
PATH=$PATH:/usr/local/go/bin bash scripts/peer-tools.sh
pnpm run -s lint
bash scripts/check-generated.sh
pnpm run -s test:unit
pnpm run -s test:e2e
