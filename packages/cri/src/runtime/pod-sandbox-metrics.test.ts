import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Metrics } from "@berth/api/cgroups/stats/v1/metrics";
import { ContainerConfig } from "@berth/api/cri/runtime/v1/api";
import type { Container } from "../store/stores.js";
import {
  BASE_LABEL_KEYS,
  containerSamples,
  metricDescriptors,
  networkSamples,
} from "./pod-sandbox-metrics.js";
import { parseProcNetDev } from "./stats.js";

const container = (resources?: { cpuShares: number; cpuQuota: number; cpuPeriod: number }) =>
  ({
    meta: {
      config: ContainerConfig.fromPartial({
        metadata: { name: "c" },
        linux: resources === undefined ? undefined : { resources },
      }),
    },
    status: { startedAt: 1_700_000_000_500_000_000n, resources: undefined },
  }) as unknown as Pick<Container, "meta" | "status">;

const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     120       2    0    0    0     0          0         0      120       2    0    0    0     0       0          0
  eth0:    4242      31    1    2    0     0          0         0     1337      17    3    4    0     0       0          0
`;

describe("pod sandbox metrics", () => {
  it("describes each family once, with the base label keys first", () => {
    const d = metricDescriptors();
    assert.equal(new Set(d.map((x) => x.name)).size, d.length);
    for (const x of d) assert.deepEqual(x.labelKeys.slice(0, BASE_LABEL_KEYS.length), [...BASE_LABEL_KEYS]);
    const failures = d.find((x) => x.name === "container_memory_failures_total");
    assert.deepEqual(failures?.labelKeys.slice(BASE_LABEL_KEYS.length), ["failure_type", "scope"]);
  });

  it("turns cgroup numbers into samples: whole seconds, working set, no-limit as 0, extra labels as described", () => {
    const m = Metrics.fromPartial({
      cpu: {
        usage: { total: 3_900_000_000n, user: 2_100_000_000n, kernel: 1_800_000_000n },
        throttling: { periods: 10n, throttledPeriods: 2n, throttledTime: 5_000_000_000n },
      },
      memory: {
        usage: { usage: 10_000n, max: 12_000n, limit: (1n << 63n) - 4096n, failcnt: 1n },
        swap: { usage: 10_500n },
        totalInactiveFile: 3_000n,
        totalRss: 6_000n,
        pgFault: 5n,
        totalPgFault: 7n,
      },
      pids: { current: 3n, limit: 0n },
    });
    const samples = containerSamples(
      m,
      container({ cpuShares: 512, cpuQuota: 50_000, cpuPeriod: 100_000 }),
      99n,
    );
    const value = (name: string, extra?: string[]) =>
      samples.find((s) => s.name === name && JSON.stringify(s.extra ?? []) === JSON.stringify(extra ?? []))
        ?.value;
    assert.equal(value("container_cpu_usage_seconds_total"), 3n);
    assert.equal(value("container_cpu_system_seconds_total"), 1n);
    assert.equal(value("container_cpu_cfs_throttled_seconds_total"), 5n);
    assert.equal(value("container_memory_working_set_bytes"), 7_000n);
    assert.equal(value("container_memory_swap"), 500n);
    assert.equal(value("container_spec_memory_limit_bytes"), 0n);
    assert.equal(value("container_memory_failures_total", ["pgfault", "hierarchy"]), 7n);
    assert.equal(value("container_spec_cpu_quota"), 50_000n);
    assert.equal(value("container_processes"), 3n);
    assert.equal(value("container_start_time_seconds"), 1_700_000_000n);
    assert.equal(value("container_last_seen"), 99n);
    assert.equal(value("container_oom_events_total"), undefined, "no OOM data, no OOM metric");
    const described = new Map(metricDescriptors().map((d) => [d.name, d.labelKeys.length]));
    for (const s of samples) {
      assert.equal(BASE_LABEL_KEYS.length + (s.extra?.length ?? 0), described.get(s.name), s.name);
    }
  });

  it("reports nothing from the cgroup for a container without task metrics", () => {
    const names = containerSamples(undefined, container(), 5n).map((s) => s.name);
    assert.deepEqual(names, ["container_start_time_seconds", "container_last_seen"]);
  });

  it("reads each interface's counters from /proc/net/dev, without loopback", () => {
    const samples = networkSamples(parseProcNetDev(NET_DEV));
    assert.ok(samples.every((s) => s.extra?.[0] === "eth0"));
    const value = (name: string) => samples.find((s) => s.name === name)?.value;
    assert.equal(value("container_network_receive_bytes_total"), 4242n);
    assert.equal(value("container_network_receive_packets_dropped_total"), 2n);
    assert.equal(value("container_network_transmit_bytes_total"), 1337n);
    assert.equal(value("container_network_transmit_errors_total"), 3n);
    assert.equal(samples.length, 8);
  });
});
