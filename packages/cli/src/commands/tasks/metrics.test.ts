import assert from "node:assert/strict";
import { test } from "node:test";
import { formatTable } from "../../format.js";
import { formatGoTime, metricRows } from "./metrics.js";
import { formatProcessInfo } from "./ps.js";

test("metrics rows are ctr's, with memory.stat from the hierarchical counters", () => {
  const rows = metricRows({
    pids: { current: 2n, limit: 0n },
    cpu: { total: 900n, kernel: 0n, user: 0n, perCpu: [400n, 500n] },
    memory: {
      stat: new Map([
        ["cache", 1n],
        ["total_cache", 4096n],
        ["total_rss", 8192n],
      ]),
      usage: { usage: 20480n, limit: 9223372036854771712n, max: 0n, failcnt: 0n },
    },
  });
  const table = formatTable(["METRIC", "VALUE"], rows, { padding: 4 });
  const lines = table.trimEnd().split("\n");
  const valueColumn = "memory.stat.inactive_anon".length + 4;
  for (const line of lines) assert.match(line.slice(valueColumn - 4, valueColumn), /^ {4}$/, line);
  const values = new Map(lines.map((l) => [l.slice(0, valueColumn).trim(), l.slice(valueColumn)]));
  assert.equal(values.get("METRIC"), "VALUE");
  assert.equal(values.get("memory.usage_in_bytes"), "20480");
  assert.equal(values.get("memory.limit_in_bytes"), "9223372036854771712");
  assert.equal(values.get("memory.stat.cache"), "4096");
  assert.equal(values.get("memory.stat.rss"), "8192");
  assert.equal(values.get("memory.stat.unevictable"), "0");
  assert.equal(values.get("cpuacct.usage"), "900");
  assert.equal(values.get("cpuacct.usage_percpu"), "[400 500]");
  assert.equal(values.get("pids.current"), "2");
  assert.equal(values.get("pids.limit"), "0");
  assert.deepEqual(
    lines.map((l) => l.split(" ")[0]).slice(0, 4),
    ["METRIC", "memory.usage_in_bytes", "memory.limit_in_bytes", "memory.stat.cache"],
    "ctr's order",
  );
  assert.deepEqual(metricRows({}), []);
});

test("times print like Go's", () => {
  assert.equal(formatGoTime(new Date("2024-05-01T10:00:00.120Z")), "2024-05-01 10:00:00.12 +0000 UTC");
  assert.equal(formatGoTime(new Date("2024-05-01T10:00:00.000Z")), "2024-05-01 10:00:00 +0000 UTC");
});

test("process info: runc's ProcessDetails names the exec", () => {
  assert.equal(formatProcessInfo(undefined), "-");
  const value = Buffer.from([10, 2, 0x65, 0x31]); // exec_id = "e1"
  assert.equal(
    formatProcessInfo({ typeUrl: "containerd.runc.v1.ProcessDetails", value }),
    "&ProcessDetails{ExecID:e1,}",
  );
  assert.equal(formatProcessInfo({ typeUrl: "x.y/Other", value: Buffer.alloc(0) }), "Other");
});
