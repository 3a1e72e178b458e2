// CRI container resources as the OCI LinuxResources a running task is updated with.
import type { LinuxContainerResources } from "@berth/api/cri/runtime/v1/api";
import { invalidArgument } from "@berth/client";
import type { LinuxResources } from "@berth/client/oci/index";

function num(v: bigint, what: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw invalidArgument(`${what} ${v} is out of range`);
  return n;
}

export function ociResources(r: LinuxContainerResources): LinuxResources {
  const out: LinuxResources = {};
  const cpu: NonNullable<LinuxResources["cpu"]> = {};
  if (r.cpuPeriod !== 0n) cpu.period = num(r.cpuPeriod, "cpu_period");
  if (r.cpuQuota !== 0n) cpu.quota = num(r.cpuQuota, "cpu_quota");
  if (r.cpuShares !== 0n) cpu.shares = num(r.cpuShares, "cpu_shares");
  if (r.cpusetCpus !== "") cpu.cpus = r.cpusetCpus;
  if (r.cpusetMems !== "") cpu.mems = r.cpusetMems;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;
  const memory: NonNullable<LinuxResources["memory"]> = {};
  if (r.memoryLimitInBytes !== 0n) memory.limit = num(r.memoryLimitInBytes, "memory_limit_in_bytes");
  if (r.memorySwapLimitInBytes !== 0n)
    memory.swap = num(r.memorySwapLimitInBytes, "memory_swap_limit_in_bytes");
  if (Object.keys(memory).length > 0) out.memory = memory;
  if (r.hugepageLimits.length > 0) {
    out.hugepageLimits = r.hugepageLimits.map((h) => ({
      pageSize: h.pageSize,
      limit: num(h.limit, "hugepage limit"),
    }));
  }
  return out;
}
