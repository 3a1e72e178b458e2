// Container and pod statistics from the daemon's task metrics (cgroup v1 data in an Any,
// as runc's shim reports it) and the snapshotter's usage of each writable layer. CPU
// nano-cores need two samples: the previous one of each container is kept.

import { readFile } from "node:fs/promises";
import { Metrics as CgroupV1Metrics } from "@berth/api/cgroups/stats/v1/metrics";
import type {
  ContainerStats,
  CpuUsage,
  MemoryUsage,
  NetworkUsage,
  PodSandboxStats,
} from "@berth/api/cri/runtime/v1/api";
import { isNotFound } from "@berth/client";
import type { Cri } from "../cri.js";
import { nowNs } from "../store/records.js";
import type { Container, Sandbox } from "../store/stores.js";

const CGROUP_V1_METRICS = "io.containerd.cgroups.v1.Metrics";
/** cgroup v1 reports "no limit" as a huge page-aligned number. */
const NO_LIMIT = 1n << 62n;

interface CpuSample {
  atNs: bigint;
  usageNs: bigint;
}

const lastCpu = new Map<string, CpuSample>();

/** cgroup v1 metrics of the tasks named (all when `ids` is undefined), by container ID. */
export async function taskMetrics(cri: Cri, ids?: readonly string[]): Promise<Map<string, CgroupV1Metrics>> {
  const filters = ids === undefined ? [] : ids.map((id) => `id==${id}`);
  if (ids !== undefined && ids.length === 0) return new Map();
  const res = await cri.containerd.tasks.metrics({ filters });
  const out = new Map<string, CgroupV1Metrics>();
  for (const m of res.metrics) {
    if (m.data === undefined || !m.data.typeUrl.endsWith(CGROUP_V1_METRICS)) continue;
    out.set(m.id, CgroupV1Metrics.decode(m.data.value));
  }
  return out;
}

/** CPU time used so far (`totalNs`) and, from the previous sample of `id`, the rate in nano-cores. */
export function cpuUsage(id: string, total: bigint | undefined, atNs: bigint): CpuUsage | undefined {
  if (total === undefined) return undefined;
  const prev = lastCpu.get(id);
  lastCpu.set(id, { atNs, usageNs: total });
  let nanoCores: bigint | undefined;
  if (prev !== undefined && atNs > prev.atNs && total >= prev.usageNs) {
    nanoCores = ((total - prev.usageNs) * 1_000_000_000n) / (atNs - prev.atNs);
  }
  return {
    timestamp: atNs,
    usageCoreNanoSeconds: { value: total },
    usageNanoCores: nanoCores !== undefined ? { value: nanoCores } : undefined,
  };
}

export function memoryUsage(m: CgroupV1Metrics | undefined, atNs: bigint): MemoryUsage | undefined {
  const mem = m?.memory;
  if (mem === undefined) return undefined;
  const usage = mem.usage?.usage ?? 0n;
  const inactiveFile = mem.totalInactiveFile;
  const workingSet = usage > inactiveFile ? usage - inactiveFile : 0n;
  const limit = mem.usage?.limit ?? 0n;
  return {
    timestamp: atNs,
    workingSetBytes: { value: workingSet },
    availableBytes:
      limit > 0n && limit < NO_LIMIT && limit > workingSet ? { value: limit - workingSet } : undefined,
    usageBytes: { value: usage },
    rssBytes: { value: mem.totalRss },
    pageFaults: { value: mem.totalPgFault },
    majorPageFaults: { value: mem.totalPgMajFault },
  };
}

export async function containerStats(
  cri: Cri,
  c: Container,
  metrics: Map<string, CgroupV1Metrics>,
  mountpoint: string,
): Promise<ContainerStats> {
  const at = nowNs();
  const m = metrics.get(c.meta.id);
  let writable: ContainerStats["writableLayer"];
  if (c.meta.snapshotKey !== "") {
    try {
      const u = await cri.containerd.snapshots.usage({
        snapshotter: cri.config.containerd.snapshotter,
        key: c.meta.snapshotKey,
      });
      writable = {
        timestamp: at,
        fsId: { mountpoint },
        usedBytes: { value: BigInt(u.size) },
        inodesUsed: { value: BigInt(u.inodes) },
      };
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  const cfg = c.meta.config;
  return {
    attributes: { id: c.meta.id, metadata: cfg.metadata, labels: cfg.labels, annotations: cfg.annotations },
    cpu: cpuUsage(c.meta.id, m?.cpu?.usage?.total, at),
    memory: memoryUsage(m, at),
    writableLayer: writable,
  };
}

/** The interfaces of a /proc/<pid>/net/dev text (loopback left out), each with its 16 counters. */
export function parseProcNetDev(text: string): Array<{ name: string; counters: bigint[] }> {
  const out: Array<{ name: string; counters: bigint[] }> = [];
  for (const line of text.split("\n").slice(2)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (name === "lo" || name === "") continue;
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (fields.length < 16 || fields.some((f) => !/^\d+$/.test(f))) continue;
    out.push({ name, counters: fields.map((f) => BigInt(f)) });
  }
  return out;
}

/** The pod's network counters, from its pause process's /proc/<pid>/net/dev (undefined when gone). */
export async function podNetDev(
  s: Sandbox,
): Promise<Array<{ name: string; counters: bigint[] }> | undefined> {
  if (s.pid <= 0 || s.meta.netnsPath === "") return undefined;
  try {
    return parseProcNetDev(await readFile(`/proc/${s.pid}/net/dev`, "utf8"));
  } catch {
    return undefined;
  }
}

/** Traffic of the pod's eth0 and its other interfaces. */
async function networkUsage(s: Sandbox, atNs: bigint): Promise<NetworkUsage | undefined> {
  const dev = await podNetDev(s);
  if (dev === undefined) return undefined;
  const interfaces = dev.map(({ name, counters: f }) => ({
    name,
    rxBytes: { value: f[0] ?? 0n },
    rxErrors: { value: f[2] ?? 0n },
    txBytes: { value: f[8] ?? 0n },
    txErrors: { value: f[10] ?? 0n },
  }));
  const def = interfaces.find((i) => i.name === "eth0");
  return { timestamp: atNs, defaultInterface: def, interfaces: interfaces.filter((i) => i !== def) };
}

/** A pod's statistics: its containers', summed for CPU and memory, plus its network. */
export async function podSandboxStats(
  cri: Cri,
  s: Sandbox,
  metrics: Map<string, CgroupV1Metrics>,
  mountpoint: string,
): Promise<PodSandboxStats> {
  const at = nowNs();
  const containers = cri.containers.ofSandbox(s.meta.id);
  const stats = await Promise.all(containers.map((c) => containerStats(cri, c, metrics, mountpoint)));
  const members = [s.meta.id, ...containers.map((c) => c.meta.id)];
  const sum = (f: (m: CgroupV1Metrics) => bigint | undefined) =>
    members.reduce((acc, id) => {
      const m = metrics.get(id);
      return acc + (m === undefined ? 0n : (f(m) ?? 0n));
    }, 0n);
  const present = members.some((id) => metrics.has(id));
  const cfg = s.meta.config;
  const podCpu = present
    ? cpuUsage(
        `pod:${s.meta.id}`,
        sum((m) => m.cpu?.usage?.total),
        at,
      )
    : undefined;
  const usage = sum((m) => m.memory?.usage?.usage);
  const inactive = sum((m) => m.memory?.totalInactiveFile);
  return {
    attributes: { id: s.meta.id, metadata: cfg.metadata, labels: cfg.labels, annotations: cfg.annotations },
    linux: {
      cpu: podCpu,
      memory: present
        ? {
            timestamp: at,
            workingSetBytes: { value: usage > inactive ? usage - inactive : 0n },
            availableBytes: undefined,
            usageBytes: { value: usage },
            rssBytes: { value: sum((m) => m.memory?.totalRss) },
            pageFaults: { value: sum((m) => m.memory?.totalPgFault) },
            majorPageFaults: { value: sum((m) => m.memory?.totalPgMajFault) },
          }
        : undefined,
      network: await networkUsage(s, at),
      process: present ? { timestamp: at, processCount: { value: sum((m) => m.pids?.current) } } : undefined,
      containers: stats,
    },
    windows: undefined,
  };
}

export function forgetCpuSample(id: string): void {
  lastCpu.delete(id);
  lastCpu.delete(`pod:${id}`);
}
