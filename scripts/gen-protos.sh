#!/usr/bin/env bash
# Regenerates packages/api/src from protos/ with ts-proto. The output is committed;
# CI runs this and fails when the tree changes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/packages/api/src"
plugin="$root/node_modules/.bin/protoc-gen-ts_proto"
[ -x "$plugin" ] || { echo "gen-protos: $plugin missing; run 'pnpm install' first" >&2; exit 1; }
command -v protoc >/dev/null || { echo "gen-protos: protoc missing; apt-get install protobuf-compiler libprotobuf-dev" >&2; exit 1; }
include=/usr/include
[ -f "$include/google/protobuf/any.proto" ] || { echo "gen-protos: google/protobuf/*.proto missing; apt-get install libprotobuf-dev" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out"
cd "$root/protos"
mapfile -t files < <(find . -name '*.proto' | sed 's|^\./||' | LC_ALL=C sort)
protoc -I . -I "$include" \
  --plugin=protoc-gen-ts_proto="$plugin" \
  --ts_proto_out="$out" \
  --ts_proto_opt=esModuleInterop=true,importSuffix=.js,env=node,forceLong=number,useDate=true,outputServices=nice-grpc,outputServices=generic-definitions,useExactTypes=false,oneof=unions-value,snakeToCamel=true,useOptionals=none,exportCommonSymbols=false \
  "${files[@]}"
# A tiny index so packages can import well-known types without deep paths.
find "$out" -name '*.ts' | LC_ALL=C sort > /dev/null
