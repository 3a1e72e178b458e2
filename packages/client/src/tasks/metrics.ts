// A task's cgroup metrics (`io.containerd.cgroups.v1.Metrics`, what runc shims return
// from Stats), decoded field by field so that 64-bit values survive: an unlimited memory
// cgroup reports a limit near 2^63, beyond what a JavaScript number holds exactly (the
// generated decoder refuses such values).

import type { Metric } from "@berth/api/containerd/types/metrics";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import type { Connection } from "../connection.js";
import { invalidArgument, notFound } from "../errdefs.js";

export const CGROUPS_V1_METRICS_TYPE_URL = "io.containerd.cgroups.v1.Metrics";

export interface MemoryEntry {
  limit: bigint;
  usage: bigint;
  max: bigint;
  failcnt: bigint;
}

export interface CgroupMetrics {
  pids?: { current: bigint; limit: bigint };
  cpu?: { total: bigint; kernel: bigint; user: bigint; perCpu: bigint[] };
  /** memory.stat, by the names cgroup v1 uses there (cache, rss, total_cache…). */
  memory?: { stat: Map<string, bigint>; usage?: MemoryEntry; swap?: MemoryEntry; kernel?: MemoryEntry };
}

/** Field numbers of MemoryStat's plain counters, named as in the cgroup's memory.stat file. */
const MEMORY_STAT_FIELDS: ReadonlyArray<readonly [number, string]> = [
  [1, "cache"],
  [2, "rss"],
  [3, "rss_huge"],
  [4, "mapped_file"],
  [5, "dirty"],
  [6, "writeback"],
  [7, "pgpgin"],
  [8, "pgpgout"],
  [9, "pgfault"],
  [10, "pgmajfault"],
  [11, "inactive_anon"],
  [12, "active_anon"],
  [13, "inactive_file"],
  [14, "active_file"],
  [15, "unevictable"],
  [16, "hierarchical_memory_limit"],
  [17, "hierarchical_memsw_limit"],
  [18, "total_cache"],
  [19, "total_rss"],
  [20, "total_rss_huge"],
  [21, "total_mapped_file"],
  [22, "total_dirty"],
  [23, "total_writeback"],
  [24, "total_pgpgin"],
  [25, "total_pgpgout"],
  [26, "total_pgfault"],
  [27, "total_pgmajfault"],
  [28, "total_inactive_anon"],
  [29, "total_active_anon"],
  [30, "total_inactive_file"],
  [31, "total_active_file"],
  [32, "total_unevictable"],
];

type Fields = Map<number, Array<bigint | Uint8Array>>;

/** One message's fields: varints as bigint, length-delimited ones as bytes. */
function fields(data: Uint8Array): Fields {
  const reader = new BinaryReader(data);
  const out: Fields = new Map();
  const add = (no: number, v: bigint | Uint8Array) => {
    const list = out.get(no);
    if (list === undefined) out.set(no, [v]);
    else list.push(v);
  };
  while (reader.pos < reader.len) {
    const [no, type] = reader.tag();
    if (type === WireType.Varint) add(no, BigInt.asUintN(64, BigInt(reader.uint64())));
    else if (type === WireType.LengthDelimited) add(no, reader.bytes());
    else reader.skip(type, no);
  }
  return out;
}

function u64(f: Fields, no: number): bigint {
  const v = f.get(no)?.at(-1);
  return typeof v === "bigint" ? v : 0n;
}

function message(f: Fields, no: number): Fields | undefined {
  const v = f.get(no)?.at(-1);
  return v instanceof Uint8Array ? fields(v) : undefined;
}

/** A repeated uint64, packed (bytes of varints) or not. */
function u64s(f: Fields, no: number): bigint[] {
  const out: bigint[] = [];
  for (const v of f.get(no) ?? []) {
    if (typeof v === "bigint") {
      out.push(v);
      continue;
    }
    const reader = new BinaryReader(v);
    while (reader.pos < reader.len) out.push(BigInt.asUintN(64, BigInt(reader.uint64())));
  }
  return out;
}

function memoryEntry(f: Fields | undefined): MemoryEntry | undefined {
  if (f === undefined) return undefined;
  return { limit: u64(f, 1), usage: u64(f, 2), max: u64(f, 3), failcnt: u64(f, 4) };
}

/** Decodes the cgroups v1 Metrics message. */
export function decodeCgroupMetrics(data: Uint8Array): CgroupMetrics {
  const m = fields(data);
  const out: CgroupMetrics = {};
  const pids = message(m, 2);
  if (pids !== undefined) out.pids = { current: u64(pids, 1), limit: u64(pids, 2) };
  const cpu = message(m, 3);
  const usage = cpu !== undefined ? message(cpu, 1) : undefined;
  if (cpu !== undefined) {
    out.cpu = {
      total: usage !== undefined ? u64(usage, 1) : 0n,
      kernel: usage !== undefined ? u64(usage, 2) : 0n,
      user: usage !== undefined ? u64(usage, 3) : 0n,
      perCpu: usage !== undefined ? u64s(usage, 4) : [],
    };
  }
  const memory = message(m, 4);
  if (memory !== undefined) {
    const stat = new Map<string, bigint>();
    for (const [no, name] of MEMORY_STAT_FIELDS) stat.set(name, u64(memory, no));
    const entries = {
      usage: memoryEntry(message(memory, 33)),
      swap: memoryEntry(message(memory, 34)),
      kernel: memoryEntry(message(memory, 35)),
    };
    out.memory = { stat };
    for (const [k, v] of Object.entries(entries))
      if (v !== undefined) out.memory[k as keyof typeof entries] = v;
  }
  return out;
}

export interface TaskMetrics {
  id: string;
  timestamp: Date | undefined;
  typeUrl: string;
  /** Undefined when the runtime reports another kind of metrics (cgroups v2, Windows). */
  cgroups: CgroupMetrics | undefined;
}

/** One data point of the task's metrics. */
export async function taskMetrics(
  conn: Connection,
  id: string,
  options: { signal?: AbortSignal } = {},
): Promise<TaskMetrics> {
  const res = await conn.tasks.metrics(
    { filters: [`id==${id}`] },
    options.signal !== undefined ? { signal: options.signal } : {},
  );
  const metric: Metric | undefined = res.metrics.find((m) => m.id === id);
  if (metric === undefined) throw notFound(`task ${id} not found`);
  const data = metric.data;
  if (data === undefined) throw invalidArgument(`the runtime returned no metrics for task ${id}`);
  const typeUrl = data.typeUrl.replace(/^.*\//, "");
  return {
    id,
    timestamp: metric.timestamp,
    typeUrl: data.typeUrl,
    cgroups: typeUrl === CGROUPS_V1_METRICS_TYPE_URL ? decodeCgroupMetrics(data.value) : undefined,
  };
}
