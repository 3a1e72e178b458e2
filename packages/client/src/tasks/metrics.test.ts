import assert from "node:assert/strict";
import { test } from "node:test";
import { Metrics } from "@berth/api/cgroups/stats/v1/metrics";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { decodeCgroupMetrics } from "./metrics.js";

test("cgroups v1 metrics decode with 64-bit values intact", () => {
  const unlimited = 9223372036854771712n;
  const w = new BinaryWriter();
  w.uint32(18).fork().uint32(8).uint64(3).uint32(16).uint64(100).join(); // pids
  w.uint32(26).fork(); // cpu
  w.uint32(10).fork().uint32(8).uint64(5000).uint32(34).fork().uint64(1000).uint64(4000).join().join();
  w.join();
  w.uint32(34).fork(); // memory
  w.uint32(8).uint64(7); // cache
  w.uint32(144).uint64(12288); // total_cache (18)
  w.uint32(266).fork().uint32(8).uint64(unlimited).uint32(16).uint64(4096).join(); // usage (33)
  w.join();
  const m = decodeCgroupMetrics(w.finish());
  assert.deepEqual(m.pids, { current: 3n, limit: 100n });
  assert.deepEqual(m.cpu, { total: 5000n, kernel: 0n, user: 0n, perCpu: [1000n, 4000n] });
  assert.equal(m.memory?.usage?.limit, unlimited);
  assert.equal(m.memory?.usage?.usage, 4096n);
  assert.equal(m.memory?.stat.get("cache"), 7n);
  assert.equal(m.memory?.stat.get("total_cache"), 12288n);
  assert.equal(m.memory?.stat.get("total_rss"), 0n);
});

test("what the generated encoder writes (unpacked or packed per-CPU values) decodes the same", () => {
  const data = Metrics.encode(
    Metrics.fromPartial({
      pids: { current: 1, limit: 0 },
      cpu: { usage: { total: 10, perCpu: [4, 6] } },
      memory: { totalRss: 8192, usage: { usage: 20480, limit: 1 << 30 } },
    }),
  ).finish();
  const m = decodeCgroupMetrics(data);
  assert.deepEqual(m.cpu?.perCpu, [4n, 6n]);
  assert.equal(m.memory?.stat.get("total_rss"), 8192n);
  assert.equal(m.memory?.usage?.limit, BigInt(1 << 30));
  assert.deepEqual(m.pids, { current: 1n, limit: 0n });
});
