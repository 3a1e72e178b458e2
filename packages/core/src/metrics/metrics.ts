// Prometheus metrics on the configured loopback address: gRPC request counts and
// latencies, tasks by state, and per-container cgroup metrics with containerd's names
// and labels (container_cpu_total_nanoseconds{container_id,namespace}, …).
import { Metrics as CgroupV1Metrics } from "@berth/api/cgroups/stats/v1/metrics";
import { Status as TaskStatus } from "@berth/api/containerd/types/task/task";
import { ServerMetrics } from "@berth/client/server";
import { Gauge } from "prom-client";
import type { RuntimeManager } from "../runtime/manager.js";

export class DaemonMetrics extends ServerMetrics {
  constructor() {
    // containerd serves its metrics at /v1/metrics.
    super({
      subject: "gRPC",
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      paths: ["/v1/metrics", "/metrics"],
    });
  }

  /** Task and container metrics, gathered from the shims at scrape time. */
  watchTasks(runtime: RuntimeManager): void {
    const statusName: Record<number, string> = {
      [TaskStatus.CREATED]: "created",
      [TaskStatus.RUNNING]: "running",
      [TaskStatus.STOPPED]: "stopped",
      [TaskStatus.PAUSED]: "paused",
      [TaskStatus.PAUSING]: "pausing",
    };
    let gathering: Promise<void> | null = null;
    // prom-client reads every metric at once: each waits for the one pass over the shims.
    const awaitGather = async () => {
      gathering ??= gather().finally(() => {
        gathering = null;
      });
      await gathering;
    };
    const tasks: Gauge<"namespace" | "state"> = new Gauge({
      name: "berth_tasks",
      help: "Tasks by state",
      labelNames: ["namespace", "state"],
      registers: [this.registry],
      // Scraping this gauge gathers every task and container metric in one pass.
      collect: awaitGather,
    });
    const registry = this.registry;
    const containerGauge = (name: string, help: string) =>
      new Gauge({
        name,
        help,
        labelNames: ["container_id", "namespace"],
        registers: [registry],
        collect: awaitGather,
      });
    const cpuTotal = containerGauge("container_cpu_total_nanoseconds", "The total cpu time");
    const cpuKernel = containerGauge("container_cpu_kernel_nanoseconds", "The total kernel cpu time");
    const cpuUser = containerGauge("container_cpu_user_nanoseconds", "The total user cpu time");
    const memUsage = containerGauge("container_memory_usage_usage_bytes", "The memory usage");
    const memLimit = containerGauge("container_memory_usage_limit_bytes", "The memory limit");
    const memMax = containerGauge("container_memory_usage_max_bytes", "The memory maximum usage");
    const memFail = containerGauge("container_memory_usage_failcnt_total", "The memory failure count");
    const memRss = containerGauge("container_memory_rss_bytes", "The rss amount");
    const memCache = containerGauge("container_memory_cache_bytes", "The cache amount used");
    const pids = containerGauge("container_pids_current", "The current number of pids");
    const all = [cpuTotal, cpuKernel, cpuUser, memUsage, memLimit, memMax, memFail, memRss, memCache, pids];
    async function gather(): Promise<void> {
      tasks.reset();
      for (const g of all) g.reset();
      for (const t of runtime.all()) {
        const labels = { container_id: t.id, namespace: t.namespace };
        try {
          const state = await t.api.state({ id: t.id, execId: "" }, { timeoutMs: 2000 });
          tasks.inc({ namespace: t.namespace, state: statusName[state.status] ?? "unknown" });
          if (state.status !== TaskStatus.RUNNING && state.status !== TaskStatus.PAUSED) continue;
          const stats = (await t.api.stats({ id: t.id }, { timeoutMs: 2000 })).stats;
          if (!stats || !stats.typeUrl.endsWith("io.containerd.cgroups.v1.Metrics")) continue;
          const m = CgroupV1Metrics.decode(stats.value);
          if (m.cpu?.usage) {
            cpuTotal.set(labels, Number(m.cpu.usage.total));
            cpuKernel.set(labels, Number(m.cpu.usage.kernel));
            cpuUser.set(labels, Number(m.cpu.usage.user));
          }
          if (m.memory) {
            memRss.set(labels, Number(m.memory.rss));
            memCache.set(labels, Number(m.memory.cache));
            if (m.memory.usage) {
              memUsage.set(labels, Number(m.memory.usage.usage));
              memLimit.set(labels, Number(m.memory.usage.limit));
              memMax.set(labels, Number(m.memory.usage.max));
              memFail.set(labels, Number(m.memory.usage.failcnt));
            }
          }
          if (m.pids) pids.set(labels, Number(m.pids.current));
        } catch {
          // A task that is going away is left out of this scrape.
        }
      }
    }
  }
}
