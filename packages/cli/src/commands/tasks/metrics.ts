// berthctl tasks metrics: one sample of a task's cgroup metrics, in ctr's METRIC/VALUE table.

import { BerthError } from "@berth/client";
import { type CgroupMetrics, taskMetrics } from "@berth/client/tasks/index";
import { type Command, UsageError, parseOptions } from "../../command.js";
import { formatTable } from "../../format.js";
import { loadTask, singleId } from "./lookup.js";

/** memory.stat counters shown, from their hierarchical (total_) values as ctr does for cache. */
const MEMORY_STAT_NAMES = [
  "cache",
  "rss",
  "rss_huge",
  "mapped_file",
  "dirty",
  "writeback",
  "pgpgin",
  "pgpgout",
  "pgfault",
  "pgmajfault",
  "inactive_anon",
  "active_anon",
  "inactive_file",
  "active_file",
  "unevictable",
];

/** The METRIC/VALUE rows for cgroups v1 metrics. */
export function metricRows(m: CgroupMetrics): string[][] {
  const rows: string[][] = [];
  if (m.memory !== undefined) {
    rows.push(["memory.usage_in_bytes", String(m.memory.usage?.usage ?? 0n)]);
    rows.push(["memory.limit_in_bytes", String(m.memory.usage?.limit ?? 0n)]);
    for (const name of MEMORY_STAT_NAMES) {
      rows.push([`memory.stat.${name}`, String(m.memory.stat.get(`total_${name}`) ?? 0n)]);
    }
  }
  if (m.cpu !== undefined) {
    rows.push(["cpuacct.usage", String(m.cpu.total)]);
    rows.push(["cpuacct.usage_percpu", `[${m.cpu.perCpu.join(" ")}]`]);
  }
  if (m.pids !== undefined) {
    rows.push(["pids.current", String(m.pids.current)]);
    rows.push(["pids.limit", String(m.pids.limit)]);
  }
  return rows;
}

/** A time as ctr prints one (Go's time.Time String in UTC): "2024-05-01 10:00:00.123 +0000 UTC". */
export function formatGoTime(t: Date): string {
  const iso = t.toISOString();
  const fraction = iso.slice(20, 23).replace(/0+$/, "");
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction !== "" ? `.${fraction}` : ""} +0000 UTC`;
}

/** JSON with 64-bit values as numbers where exact, else as strings. */
function toJson(m: CgroupMetrics): string {
  return JSON.stringify(
    {
      ...m,
      memory: m.memory !== undefined ? { ...m.memory, stat: Object.fromEntries(m.memory.stat) } : undefined,
    },
    (_key, value: unknown) =>
      typeof value === "bigint"
        ? value <= BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(value)
          : String(value)
        : value,
    2,
  );
}

export const metricsCommand: Command = {
  name: "metrics",
  aliases: ["metric"],
  summary: "show a task's cgroup metrics",
  synopsis: "[--format table|json] ID",
  help: ['--format FORMAT       "table" (default) or "json"'],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(argv, { format: { type: "string" } }, "tasks metrics");
    const format = values.format ?? "table";
    if (format !== "table" && format !== "json") {
      throw new UsageError(`unknown format ${JSON.stringify(format)}: use --format table or --format json`);
    }
    const id = singleId(positionals, "tasks metrics");
    const conn = ctx.connect();
    await loadTask(conn, id, ctx.signal);
    const metrics = await taskMetrics(conn, id, { signal: ctx.signal });
    if (metrics.cgroups === undefined) {
      throw new BerthError(
        "NotImplemented",
        `the runtime reports metrics of type ${metrics.typeUrl}, which berthctl cannot show: read them with ctr`,
      );
    }
    if (format === "json") {
      ctx.stdout.write(`${toJson(metrics.cgroups)}\n`);
      return;
    }
    const timestamp = metrics.timestamp !== undefined ? formatGoTime(metrics.timestamp) : "-";
    ctx.stdout.write(formatTable(["ID", "TIMESTAMP"], [[id, timestamp]], { padding: 4 }));
    ctx.stdout.write("\n");
    ctx.stdout.write(formatTable(["METRIC", "VALUE"], metricRows(metrics.cgroups), { padding: 4 }));
  },
};
