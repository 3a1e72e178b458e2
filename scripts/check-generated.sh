#!/usr/bin/env bash
# Fails when regenerating packages/api from protos/ changes the committed output, and
# when protos/ differs from containerd's upstream definitions.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/gen-protos.sh
if ! git diff --quiet --exit-code -- packages/api/src || [ -n "$(git status --porcelain -- packages/api/src)" ]; then
  echo "check-generated: packages/api/src is out of date with protos/; run 'pnpm gen' and commit the result" >&2
  git status --short -- packages/api/src >&2
  exit 1
fi
node scripts/check-protos.mjs
