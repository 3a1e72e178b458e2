// ListMetricDescriptors and ListPodSandboxMetrics: the cAdvisor-style metrics kubelet
// serves on /metrics/cadvisor when its PodAndContainerStatsFromCRI gate is on, taken from
// the same task metrics (cgroup v1) as ContainerStats, plus each pod's network counters.
//
// Kubelet registers one Prometheus family per descriptor, with the descriptor's label keys
// and each metric's label values in the same order, so every metric of a name carries
// exactly the keys its descriptor lists. A metric whose data the daemon does not report
// (e.g. OOM counts from a shim that does not read memory.oom_control) is left out rather
// than reported as 0.
//
// Values are unsigned integers (the API's UInt64Value): seconds are whole seconds, as
// containerd has them; the exact CPU time stays available from ContainerStats.

import type { Metrics as CgroupV1Metrics } from "@berth/api/cgroups/stats/v1/metrics";
import {
  type ContainerMetrics,
  type ListMetricDescriptorsRequest,
  type ListMetricDescriptorsResponse,
  type ListPodSandboxMetricsRequest,
  type ListPodSandboxMetricsResponse,
  type Metric,
  type MetricDescriptor,
  MetricType,
  type PodSandboxMetrics,
} from "@berth/api/cri/runtime/v1/api";
import type { Cri } from "../cri.js";
import { nowNs } from "../store/records.js";
import { type Container, containerState } from "../store/stores.js";
import { podNetDev, taskMetrics } from "./stats.js";

/**
 * Labels of every metric: the container's ID, its name in the pod, its image, and the pod
 * (name, namespace). Pod-level metrics (network) name the sandbox, as container "POD".
 */
export const BASE_LABEL_KEYS = ["id", "name", "image", "pod", "namespace"] as const;
/** cAdvisor's name for the pod's own (pause) container. */
const POD_CONTAINER_NAME = "POD";

interface Family {
  name: string;
  help: string;
  type: MetricType;
  /** Keys after the base ones. */
  extra?: readonly string[];
}

const { COUNTER, GAUGE } = MetricType;

/** One value of a family: the number, and the values of its extra labels. */
interface Sample {
  name: string;
  value: bigint;
  extra?: readonly string[];
}

const NS_PER_S = 1_000_000_000n;
/** cgroup v1 reports "no limit" as a huge page-aligned number; cAdvisor shows it as 0. */
const NO_LIMIT = 1n << 62n;

const CONTAINER_FAMILIES: readonly Family[] = [
  {
    name: "container_cpu_usage_seconds_total",
    help: "Cumulative CPU time consumed in seconds.",
    type: COUNTER,
  },
  {
    name: "container_cpu_user_seconds_total",
    help: "Cumulative user CPU time consumed in seconds.",
    type: COUNTER,
  },
  {
    name: "container_cpu_system_seconds_total",
    help: "Cumulative system CPU time consumed in seconds.",
    type: COUNTER,
  },
  { name: "container_cpu_cfs_periods_total", help: "Number of elapsed enforcement periods.", type: COUNTER },
  {
    name: "container_cpu_cfs_throttled_periods_total",
    help: "Number of enforcement periods in which the container was throttled.",
    type: COUNTER,
  },
  {
    name: "container_cpu_cfs_throttled_seconds_total",
    help: "Total time the container has been throttled, in seconds.",
    type: COUNTER,
  },
  {
    name: "container_memory_usage_bytes",
    help: "Current memory usage in bytes, including all memory regardless of when it was accessed.",
    type: GAUGE,
  },
  { name: "container_memory_max_usage_bytes", help: "Maximum memory usage recorded in bytes.", type: GAUGE },
  {
    name: "container_memory_working_set_bytes",
    help: "Current working set in bytes (usage less inactive file pages).",
    type: GAUGE,
  },
  { name: "container_memory_rss", help: "Size of RSS in bytes.", type: GAUGE },
  { name: "container_memory_cache", help: "Number of bytes of page cache memory.", type: GAUGE },
  { name: "container_memory_mapped_file", help: "Size of memory mapped files in bytes.", type: GAUGE },
  { name: "container_memory_swap", help: "Container swap usage in bytes.", type: GAUGE },
  {
    name: "container_memory_total_active_file_bytes",
    help: "Current total active file pages in bytes.",
    type: GAUGE,
  },
  {
    name: "container_memory_total_inactive_file_bytes",
    help: "Current total inactive file pages in bytes.",
    type: GAUGE,
  },
  { name: "container_memory_failcnt", help: "Number of times memory usage hit the limit.", type: COUNTER },
  {
    name: "container_memory_failures_total",
    help: "Cumulative count of memory allocation failures.",
    type: COUNTER,
    extra: ["failure_type", "scope"],
  },
  {
    name: "container_spec_memory_limit_bytes",
    help: "Memory limit of the container in bytes (0 when unlimited).",
    type: GAUGE,
  },
  { name: "container_spec_cpu_shares", help: "CPU shares of the container.", type: GAUGE },
  {
    name: "container_spec_cpu_quota",
    help: "CPU quota of the container (microseconds per period).",
    type: GAUGE,
  },
  { name: "container_spec_cpu_period", help: "CPU period of the container (microseconds).", type: GAUGE },
  { name: "container_processes", help: "Number of processes running inside the container.", type: GAUGE },
  {
    name: "container_threads_max",
    help: "Maximum number of threads allowed inside the container (0 when unlimited).",
    type: GAUGE,
  },
  {
    name: "container_oom_events_total",
    help: "Count of out of memory kills in the container.",
    type: COUNTER,
  },
  {
    name: "container_start_time_seconds",
    help: "Start time of the container since unix epoch in seconds.",
    type: GAUGE,
  },
  { name: "container_last_seen", help: "Last time the container was seen by the exporter.", type: GAUGE },
];

const NETWORK_COUNTERS = [
  // name suffix, help, column of /proc/net/dev (receive 0..7, transmit 8..15)
  ["receive_bytes_total", "Cumulative count of bytes received", 0],
  ["receive_packets_total", "Cumulative count of packets received", 1],
  ["receive_errors_total", "Cumulative count of errors encountered while receiving", 2],
  ["receive_packets_dropped_total", "Cumulative count of packets dropped while receiving", 3],
  ["transmit_bytes_total", "Cumulative count of bytes transmitted", 8],
  ["transmit_packets_total", "Cumulative count of packets transmitted", 9],
  ["transmit_errors_total", "Cumulative count of errors encountered while transmitting", 10],
  ["transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting", 11],
] as const;

const NETWORK_FAMILIES: readonly Family[] = NETWORK_COUNTERS.map(([suffix, help]) => ({
  name: `container_network_${suffix}`,
  help: `${help}.`,
  type: COUNTER,
  extra: ["interface"],
}));

const FAMILIES = new Map<string, Family>(
  [...CONTAINER_FAMILIES, ...NETWORK_FAMILIES].map((f) => [f.name, f]),
);

export function metricDescriptors(): MetricDescriptor[] {
  return [...FAMILIES.values()].map((f) => ({
    name: f.name,
    help: f.help,
    labelKeys: [...BASE_LABEL_KEYS, ...(f.extra ?? [])],
  }));
}

const secondsOf = (ns: bigint) => ns / NS_PER_S;

/** The samples of one container: its cgroup's numbers, its spec and its times. */
export function containerSamples(
  m: CgroupV1Metrics | undefined,
  c: Pick<Container, "meta" | "status">,
  nowSeconds: bigint,
): Sample[] {
  const out: Sample[] = [];
  const put = (name: string, value: bigint | undefined, extra?: readonly string[]) => {
    if (value !== undefined) out.push({ name, value: value < 0n ? 0n : value, extra });
  };
  const usage = m?.cpu?.usage;
  if (usage !== undefined) {
    put("container_cpu_usage_seconds_total", secondsOf(usage.total));
    put("container_cpu_user_seconds_total", secondsOf(usage.user));
    put("container_cpu_system_seconds_total", secondsOf(usage.kernel));
  }
  const throttling = m?.cpu?.throttling;
  if (throttling !== undefined) {
    put("container_cpu_cfs_periods_total", throttling.periods);
    put("container_cpu_cfs_throttled_periods_total", throttling.throttledPeriods);
    put("container_cpu_cfs_throttled_seconds_total", secondsOf(throttling.throttledTime));
  }
  const mem = m?.memory;
  if (mem !== undefined) {
    const used = mem.usage?.usage ?? 0n;
    put("container_memory_usage_bytes", used);
    put("container_memory_max_usage_bytes", mem.usage?.max);
    put(
      "container_memory_working_set_bytes",
      used > mem.totalInactiveFile ? used - mem.totalInactiveFile : 0n,
    );
    put("container_memory_rss", mem.totalRss);
    put("container_memory_cache", mem.totalCache);
    put("container_memory_mapped_file", mem.totalMappedFile);
    // cgroup v1's memsw counts memory plus swap.
    if (mem.swap !== undefined) put("container_memory_swap", mem.swap.usage - used);
    put("container_memory_total_active_file_bytes", mem.totalActiveFile);
    put("container_memory_total_inactive_file_bytes", mem.totalInactiveFile);
    put("container_memory_failcnt", mem.usage?.failcnt);
    put("container_memory_failures_total", mem.pgFault, ["pgfault", "container"]);
    put("container_memory_failures_total", mem.pgMajFault, ["pgmajfault", "container"]);
    put("container_memory_failures_total", mem.totalPgFault, ["pgfault", "hierarchy"]);
    put("container_memory_failures_total", mem.totalPgMajFault, ["pgmajfault", "hierarchy"]);
    const limit = mem.usage?.limit ?? 0n;
    put("container_spec_memory_limit_bytes", limit >= NO_LIMIT ? 0n : limit);
  }
  const resources = c.status.resources ?? c.meta.config.linux?.resources;
  if (resources !== undefined) {
    put("container_spec_cpu_shares", BigInt(resources.cpuShares));
    put("container_spec_cpu_quota", BigInt(resources.cpuQuota));
    put("container_spec_cpu_period", BigInt(resources.cpuPeriod));
  }
  if (m?.pids !== undefined) {
    put("container_processes", m.pids.current);
    put("container_threads_max", m.pids.limit);
  }
  if (m?.memoryOomControl !== undefined) put("container_oom_events_total", m.memoryOomControl.oomKill);
  if (c.status.startedAt > 0n) put("container_start_time_seconds", secondsOf(c.status.startedAt));
  put("container_last_seen", nowSeconds);
  return out;
}

/** Per interface (loopback left out), its counters as samples. */
export function networkSamples(dev: ReadonlyArray<{ name: string; counters: readonly bigint[] }>): Sample[] {
  return dev.flatMap(({ name, counters }) =>
    NETWORK_COUNTERS.map(([suffix, , column]) => ({
      name: `container_network_${suffix}`,
      value: counters[column] ?? 0n,
      extra: [name],
    })),
  );
}

function toMetrics(samples: readonly Sample[], base: readonly string[], timestamp: bigint): Metric[] {
  return samples.map((s) => {
    const family = FAMILIES.get(s.name);
    if (family === undefined) throw new Error(`no descriptor for metric ${s.name}`);
    return {
      name: s.name,
      timestamp,
      metricType: family.type,
      labelValues: [...base, ...(s.extra ?? [])],
      value: { value: s.value },
    };
  });
}

export async function listMetricDescriptors(
  _req: ListMetricDescriptorsRequest,
): Promise<ListMetricDescriptorsResponse> {
  return { descriptors: metricDescriptors() };
}

export async function listPodSandboxMetrics(
  cri: Cri,
  _req: ListPodSandboxMetricsRequest,
): Promise<ListPodSandboxMetricsResponse> {
  const sandboxes = cri.sandboxes.list().filter((s) => s.state === "ready");
  const metrics = await taskMetrics(cri);
  const at = nowNs();
  const nowSeconds = secondsOf(at);
  const podMetrics = await Promise.all(
    sandboxes.map(async (s): Promise<PodSandboxMetrics> => {
      const pod = s.meta.config.metadata;
      const podName = pod?.name ?? "";
      const namespace = pod?.namespace ?? "";
      const containerMetrics: ContainerMetrics[] = cri.containers
        .ofSandbox(s.meta.id)
        .filter((c) => containerState(c) === "running")
        .map((c) => ({
          containerId: c.meta.id,
          metrics: toMetrics(
            containerSamples(metrics.get(c.meta.id), c, nowSeconds),
            [c.meta.id, c.meta.config.metadata?.name ?? "", c.meta.imageName, podName, namespace],
            at,
          ),
        }));
      return {
        podSandboxId: s.meta.id,
        metrics: toMetrics(
          networkSamples((await podNetDev(s)) ?? []),
          [s.meta.id, POD_CONTAINER_NAME, cri.config.sandboxImage, podName, namespace],
          at,
        ),
        containerMetrics,
      };
    }),
  );
  return { podMetrics };
}
