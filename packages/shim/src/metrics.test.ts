import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Metrics } from "@berth/api/cgroups/stats/v1/metrics";
import { METRICS_TYPE_URL, metricsFromRunc, packMetrics } from "./metrics.js";
import { parseRuncJson } from "./runc.js";

// Trimmed from `runc events --stats` (runc 1.1.5, cgroup v1).
const SAMPLE = `{"type":"stats","id":"t1","data":{"cpu":{"usage":{"total":10695828,"percpu":[6433278,4262550],
"percpu_kernel":[7983274,7900013],"percpu_user":[0,0],"kernel":10000000,"user":0},"throttling":{}},
"memory":{"usage":{"limit":9223372036854771712,"usage":577536,"max":2248704,"failcnt":0},
"kernelTCP":{"limit":9223372036854771712,"failcnt":0},"raw":{"rss":53248,"pgfault":654,
"hierarchical_memory_limit":9223372036854771712,"total_rss":53248}},"pids":{"current":1},
"blkio":{"ioServiceBytesRecursive":[{"major":8,"minor":0,"op":"Read","value":4096}]},
"hugetlb":{"2MB":{"failcnt":0}},"intel_rdt":{},"network_interfaces":null}}`;

describe("metrics", () => {
  it("converts runc stats to cgroups v1 Metrics, keeping 64-bit limits exact on the wire", () => {
    const event = parseRuncJson(SAMPLE) as { data: unknown };
    const any = packMetrics(metricsFromRunc(event.data));
    assert.equal(any.typeUrl, METRICS_TYPE_URL);
    assert.ok(Metrics.encode(Metrics.fromPartial({})).finish().length === 0);
    const m = metricsFromRunc(event.data);
    assert.equal(m.cpu?.usage?.total, 10695828n);
    assert.deepEqual(m.cpu?.usage?.perCpu, [6433278n, 4262550n]);
    assert.equal(m.memory?.rss, 53248n);
    assert.equal(m.memory?.usage?.usage, 577536n);
    assert.equal(m.memory?.pgFault, 654n);
    assert.equal(m.pids?.current, 1n);
    assert.equal(m.hugetlb[0]?.pagesize, "2MB");
    assert.deepEqual(m.blkio?.ioServiceBytesRecursive[0], {
      op: "Read",
      device: "",
      major: 8n,
      minor: 0n,
      value: 4096n,
    });
    assert.equal(m.memory?.usage?.limit, 9223372036854771712n);
    assert.equal(Metrics.decode(any.value).memory?.usage?.limit, 9223372036854771712n);
    // The bytes carry the exact uint64.
    const hex = Buffer.from(any.value).toString("hex");
    const exact = "80e0ffffffffffff7f";
    assert.ok(hex.includes(exact), "9223372036854771712 encoded as a varint");
  });

  it("leaves ordinary JSON numbers and strings alone", () => {
    assert.deepEqual(parseRuncJson('{"a":[1,12345678901234567890],"b":"1234567890123456789"}'), {
      a: [1, "12345678901234567890"],
      b: "1234567890123456789",
    });
  });
});
