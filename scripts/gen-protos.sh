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
opts=esModuleInterop=true,importSuffix=.js,env=node,useDate=true,outputServices=nice-grpc,outputServices=generic-definitions,useExactTypes=false,oneof=unions-value,snakeToCamel=true,useOptionals=none,exportCommonSymbols=false
# containerd's int64s are sizes, offsets and pids: numbers. CRI's (nanosecond timestamps)
# and cgroup metrics' (limits near 2^63) do not fit a double: bigint there.
mapfile -t wide < <(find cri cgroups -name '*.proto' | LC_ALL=C sort)
mapfile -t narrow < <(find . -name '*.proto' -not -path './cri/*' -not -path './cgroups/*' | sed 's|^\./||' | LC_ALL=C sort)
gen() { # forceLong files...
  local long=$1
  shift
  protoc -I . -I "$include" \
    --plugin=protoc-gen-ts_proto="$plugin" \
    --ts_proto_out="$out" \
    --ts_proto_opt="$opts,forceLong=$long" \
    "$@"
}
gen number "${narrow[@]}"
gen bigint "${wide[@]}"
