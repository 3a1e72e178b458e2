#!/usr/bin/env bash
# Installs everything (deploy/install.sh) and runs every test: lint, generated-code
# check, unit tests, then end-to-end tests against real runc, registry and ctr.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash deploy/install.sh
pnpm run -s lint
bash scripts/check-generated.sh
pnpm run -s test:unit
pnpm run -s test:e2e
