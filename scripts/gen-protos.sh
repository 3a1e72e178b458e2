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
# ts-proto's Timestamp <-> Date conversion keeps milliseconds; containerd's times carry
# nanoseconds. A Date may carry the nanoseconds below its millisecond as
# `subMillisecondNanos` (berthd's records do): the conversions keep them both ways.
mapfile -t stamped < <(grep -rl 'function toTimestamp(date: Date)' "$out" | LC_ALL=C sort)
for f in "${stamped[@]}"; do
  perl -0pi -e '
    s{const nanos = \(date\.getTime\(\) % 1_000\) \* 1_000_000;}{const nanos =\n    (date.getTime() % 1_000) * 1_000_000 + ((date as { subMillisecondNanos?: number }).subMillisecondNanos ?? 0);}g;
    s{(function fromTimestamp\(t: Timestamp\): Date \{\n(?:.*\n)*?)  return new globalThis\.Date\(millis\);}{$1  const date = new globalThis.Date(millis);\n  const subMillisecondNanos = (t.nanos || 0) % 1_000_000;\n  return subMillisecondNanos === 0 ? date : Object.assign(date, { subMillisecondNanos });}g;
  ' "$f"
done
