import {
  type BlkIOEntry,
  type HugetlbStat,
  type MemoryEntry,
  Metrics,
  type NetworkStat,
} from "@berth/api/cgroups/stats/v1/metrics";
import type { Any } from "@berth/api/google/protobuf/any";

// `runc events --stats` output turned into the cgroups v1 Metrics message that containerd's
// runc shim returns from Stats (`ctr tasks metrics` decodes it by its type URL).

export const METRICS_TYPE_URL = "io.containerd.cgroups.v1.Metrics";

type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {};
}

/** A uint64 from runc's JSON: a number, or a digit string for values a double cannot hold. */
function u64(v: unknown): bigint {
  if (typeof v === "number" && Number.isFinite(v) && v >= 0) return BigInt(Math.trunc(v));
  if (typeof v === "string" && /^\d+$/.test(v)) return BigInt(v);
  return 0n;
}

function u64s(v: unknown): bigint[] {
  return Array.isArray(v) ? v.map(u64) : [];
}

function memoryEntry(v: unknown): MemoryEntry | undefined {
  if (v === undefined) return undefined;
  const e = obj(v);
  return { limit: u64(e.limit), usage: u64(e.usage), max: u64(e.max), failcnt: u64(e.failcnt) };
}

function blkioEntries(v: unknown): BlkIOEntry[] {
  if (!Array.isArray(v)) return [];
  return v.map((x) => {
    const e = obj(x);
    return {
      op: typeof e.op === "string" ? e.op : "",
      device: "",
      major: u64(e.major),
      minor: u64(e.minor),
      value: u64(e.value),
    };
  });
}

/** Converts the `data` of a runc stats event. */
export function metricsFromRunc(data: unknown): Metrics {
  const d = obj(data);
  const cpu = obj(d.cpu);
  const usage = obj(cpu.usage);
  const throttling = obj(cpu.throttling);
  const memory = obj(d.memory);
  const raw = obj(memory.raw);
  const r = (key: string) => u64(raw[key]);
  const pids = obj(d.pids);
  const blkio = obj(d.blkio);
  const hugetlb: HugetlbStat[] = Object.entries(obj(d.hugetlb)).map(([pagesize, v]) => {
    const h = obj(v);
    return { pagesize, usage: u64(h.usage), max: u64(h.max), failcnt: u64(h.failcnt) };
  });
  const network: NetworkStat[] = (Array.isArray(d.network_interfaces) ? d.network_interfaces : []).map(
    (x) => {
      const n = obj(x);
      return {
        name: typeof n.name === "string" ? n.name : "",
        rxBytes: u64(n.rx_bytes),
        rxPackets: u64(n.rx_packets),
        rxErrors: u64(n.rx_errors),
        rxDropped: u64(n.rx_dropped),
        txBytes: u64(n.tx_bytes),
        txPackets: u64(n.tx_packets),
        txErrors: u64(n.tx_errors),
        txDropped: u64(n.tx_dropped),
      };
    },
  );
  return Metrics.fromPartial({
    hugetlb,
    pids: { current: u64(pids.current), limit: u64(pids.limit) },
    cpu: {
      usage: {
        total: u64(usage.total),
        kernel: u64(usage.kernel),
        user: u64(usage.user),
        perCpu: u64s(usage.percpu),
      },
      throttling: {
        periods: u64(throttling.periods),
        throttledPeriods: u64(throttling.throttledPeriods),
        throttledTime: u64(throttling.throttledTime),
      },
    },
    memory: {
      cache: r("cache"),
      rss: r("rss"),
      rssHuge: r("rss_huge"),
      mappedFile: r("mapped_file"),
      dirty: r("dirty"),
      writeback: r("writeback"),
      pgPgIn: r("pgpgin"),
      pgPgOut: r("pgpgout"),
      pgFault: r("pgfault"),
      pgMajFault: r("pgmajfault"),
      inactiveAnon: r("inactive_anon"),
      activeAnon: r("active_anon"),
      inactiveFile: r("inactive_file"),
      activeFile: r("active_file"),
      unevictable: r("unevictable"),
      hierarchicalMemoryLimit: r("hierarchical_memory_limit"),
      hierarchicalSwapLimit: r("hierarchical_memsw_limit"),
      totalCache: r("total_cache"),
      totalRss: r("total_rss"),
      totalRssHuge: r("total_rss_huge"),
      totalMappedFile: r("total_mapped_file"),
      totalDirty: r("total_dirty"),
      totalWriteback: r("total_writeback"),
      totalPgPgIn: r("total_pgpgin"),
      totalPgPgOut: r("total_pgpgout"),
      totalPgFault: r("total_pgfault"),
      totalPgMajFault: r("total_pgmajfault"),
      totalInactiveAnon: r("total_inactive_anon"),
      totalActiveAnon: r("total_active_anon"),
      totalInactiveFile: r("total_inactive_file"),
      totalActiveFile: r("total_active_file"),
      totalUnevictable: r("total_unevictable"),
      usage: memoryEntry(memory.usage),
      swap: memoryEntry(memory.swap),
      kernel: memoryEntry(memory.kernel),
      kernelTcp: memoryEntry(memory.kernelTCP),
    },
    blkio: {
      ioServiceBytesRecursive: blkioEntries(blkio.ioServiceBytesRecursive),
      ioServicedRecursive: blkioEntries(blkio.ioServicedRecursive),
      ioQueuedRecursive: blkioEntries(blkio.ioQueueRecursive),
      ioServiceTimeRecursive: blkioEntries(blkio.ioServiceTimeRecursive),
      ioWaitTimeRecursive: blkioEntries(blkio.ioWaitTimeRecursive),
      ioMergedRecursive: blkioEntries(blkio.ioMergedRecursive),
      ioTimeRecursive: blkioEntries(blkio.ioTimeRecursive),
      sectorsRecursive: blkioEntries(blkio.sectorsRecursive),
    },
    network,
  });
}

export function packMetrics(metrics: Metrics): Any {
  return { typeUrl: METRICS_TYPE_URL, value: Buffer.from(Metrics.encode(metrics).finish()) };
}
