// Benchmark: N pods started at once through CRI, as kubelet starts them (the images
// pulled beforehand, then per pod RunPodSandbox → CreateContainer → StartContainer, all
// pods concurrently), then an idle window. Against berth-cri on berthd (Berth's shim,
// one run per shim policy) and against Debian's containerd 1.6 with its built-in CRI
// plugin (runc's shim), in one run, on the same CNI network and images. Reports start
// time (total, per-pod p50/p99), CPU seconds over the idle window and PSS of every
// runtime process: berthd + berth-cri + shims, or containerd + shims.
//   node e2e/dist/bench/cri.js [--pods 105] [--idle 60] [--policy per-pod|pooled|per-container|all]
//                              [--pool-size 4,8,16]
// `all` runs per-pod and pooled; pooled runs once per listed pool size.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type TestNetwork, createTestNetwork } from "../cri/network.js";
import { startRegistry } from "../fixtures/registry.js";
import { removeDir, tempDir } from "../fixtures/tmp.js";
import {
  type BenchImages,
  type CriRuntime,
  benchPodConfig,
  keepLogs,
  pullBenchImages,
  pushBenchImages,
  removeAllPods,
  resultsDir,
  startBerthRuntime,
  startContainerdRuntime,
  startSleepPod,
} from "./cri-runtimes.js";
import { cpuSeconds, percentile, pssKiB } from "./measure.js";

const { values } = parseArgs({
  options: {
    pods: { type: "string", default: "105" },
    idle: { type: "string", default: "60" },
    policy: { type: "string", default: "all" },
    "pool-size": { type: "string", default: "4,8,16" },
  },
});
const pods = Number(values.pods);
const idleSeconds = Number(values.idle);
const poolSizes = values["pool-size"].split(",").map(Number);
const policies = values.policy === "all" ? ["per-pod", "pooled"] : [values.policy];
if (!Number.isInteger(pods) || pods < 1) throw new Error("--pods: expected a positive integer");
if (!(idleSeconds >= 0)) throw new Error("--idle: expected seconds");
if (poolSizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error("--pool-size: expected integers");
for (const p of policies) {
  if (!["per-pod", "pooled", "per-container"].includes(p)) throw new Error(`--policy: unknown policy ${p}`);
}

interface Result {
  runtime: string;
  pods: number;
  startMs: { total: number; p50: number; p99: number };
  teardownMs: number;
  shims: number;
  pssMiB: { daemons: number; shims: number; total: number; perShim: number };
  idleCpuSeconds: { daemons: number; shims: number; total: number; window: number };
}

const mib = (kib: number) => Number((kib / 1024).toFixed(1));
const round2 = (x: number) => Number(x.toFixed(2));

/** kubelet's sequence for one pod; returns its duration in ms. */
async function startPod(rt: CriRuntime, images: BenchImages, i: number, logDir: string): Promise<number> {
  const t0 = performance.now();
  await startSleepPod(rt.client, images, benchPodConfig(`bench-${i}`, logDir, { bench: "cri" }));
  return performance.now() - t0;
}

async function measure(rt: CriRuntime, images: BenchImages): Promise<Result> {
  await pullBenchImages(rt.client, images);
  const logDir = await tempDir("bench-cri-logs-");
  try {
    const t0 = performance.now();
    // Every start settles before a failure is reported, so that clean-up finds every pod.
    const settled = await Promise.allSettled(
      Array.from({ length: pods }, (_, i) => startPod(rt, images, i, logDir)),
    );
    const total = performance.now() - t0;
    const failed = settled.filter((r) => r.status === "rejected");
    if (failed.length > 0) {
      throw new Error(
        `${rt.name}: ${failed.length} of ${pods} pods failed to start: ${String(failed[0]?.reason)}`,
      );
    }
    const times = settled.map((r) => (r.status === "fulfilled" ? r.value : 0));
    process.stderr.write(`${rt.name}: ${pods} pods in ${Math.round(total)} ms; idle ${idleSeconds} s\n`);

    // Settle a moment (shim `start` processes exiting), then the idle window.
    await new Promise((r) => setTimeout(r, 2_000));
    const daemons = rt.daemons().map((d) => d.pid);
    const shims = rt.shimPids();
    const cpu0 = new Map([...daemons, ...shims].map((p) => [p, cpuSeconds(p)]));
    const w0 = performance.now();
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    const window = (performance.now() - w0) / 1000;
    const cpu = (pids: number[]) =>
      pids.reduce((a, p) => a + Math.max(0, cpuSeconds(p) - (cpu0.get(p) ?? cpuSeconds(p))), 0);
    const idleDaemons = cpu(daemons);
    const shimsNow = rt.shimPids();
    const idleShims = cpu(shimsNow);
    const daemonPss = daemons.reduce((a, p) => a + pssKiB(p), 0);
    const shimPss = shimsNow.reduce((a, p) => a + pssKiB(p), 0);

    const t1 = performance.now();
    await removeAllPods(rt.client);
    const teardown = performance.now() - t1;
    return {
      runtime: rt.name,
      pods,
      startMs: {
        total: Math.round(total),
        p50: Math.round(percentile(times, 50)),
        p99: Math.round(percentile(times, 99)),
      },
      teardownMs: Math.round(teardown),
      shims: shimsNow.length,
      pssMiB: {
        daemons: mib(daemonPss),
        shims: mib(shimPss),
        total: mib(daemonPss + shimPss),
        perShim: round2(shimPss / 1024 / Math.max(1, shimsNow.length)),
      },
      idleCpuSeconds: {
        daemons: round2(idleDaemons),
        shims: round2(idleShims),
        total: round2(idleDaemons + idleShims),
        window: Math.round(window),
      },
    };
  } finally {
    await removeDir(logDir);
  }
}

function berth(
  policy: string,
  poolSize: number,
  network: TestNetwork,
  images: BenchImages,
  registryHost: string,
) {
  return startBerthRuntime({
    name: policy === "pooled" ? `berth pooled/${poolSize}` : `berth ${policy}`,
    network,
    images,
    registryHost,
    shim: { policy, poolSize },
  });
}

function row(r: Result): string {
  return [
    r.runtime.padEnd(16),
    `${r.startMs.total}`.padStart(7),
    `${r.startMs.p50}`.padStart(6),
    `${r.startMs.p99}`.padStart(6),
    `${r.shims}`.padStart(5),
    `${r.pssMiB.daemons}`.padStart(8),
    `${r.pssMiB.shims}`.padStart(8),
    `${r.pssMiB.perShim}`.padStart(6),
    `${r.pssMiB.total}`.padStart(8),
    `${r.idleCpuSeconds.total}`.padStart(7),
    `${r.teardownMs}`.padStart(8),
  ].join(" ");
}

async function main(): Promise<void> {
  const registry = await startRegistry();
  const network = await createTestNetwork();
  const results: Result[] = [];
  try {
    const images = await pushBenchImages(registry.host, "bench-cri");
    const runs: Array<() => Promise<CriRuntime>> = [
      () => startContainerdRuntime(network, images, registry.host),
    ];
    for (const policy of policies) {
      for (const size of policy === "pooled" ? poolSizes : [8])
        runs.push(() => berth(policy, size, network, images, registry.host));
    }
    for (const start of runs) {
      const rt = await start();
      try {
        results.push(await measure(rt, images));
        process.stderr.write(`${JSON.stringify(results[results.length - 1])}\n`);
      } catch (err) {
        await keepLogs("cri", rt);
        throw err;
      } finally {
        // After a failure half-way, whatever was started goes through the runtime too.
        await removeAllPods(rt.client).catch(() => undefined);
        await rt.stop();
      }
    }
  } finally {
    await network.cleanup();
    await registry.stop();
  }

  console.log(
    `${pods} pods at once, then ${idleSeconds} s idle. Start times in ms; PSS in MiB; idle CPU in seconds.`,
  );
  console.log(
    "runtime          start    p50    p99 shims  daemons    shims  /shim    total idleCPU teardown",
  );
  for (const r of results) console.log(row(r));
  const base = results.find((r) => r.runtime.startsWith("containerd"));
  if (base !== undefined) {
    console.log("ratios to containerd 1.6 (start total, p50, p99, total PSS, idle CPU):");
    for (const r of results.filter((x) => x !== base)) {
      const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : "-");
      console.log(
        `  ${r.runtime.padEnd(16)} ${ratio(r.startMs.total, base.startMs.total)} ${ratio(r.startMs.p50, base.startMs.p50)} ${ratio(r.startMs.p99, base.startMs.p99)} ${ratio(r.pssMiB.total, base.pssMiB.total)} ${ratio(r.idleCpuSeconds.total, base.idleCpuSeconds.total)}`,
      );
    }
  }
  await mkdir(resultsDir, { recursive: true });
  await writeFile(
    join(resultsDir, "cri.json"),
    `${JSON.stringify({ date: new Date().toISOString(), pods, idleSeconds, results }, null, 2)}\n`,
  );
}

main().catch((err) => {
  console.error(`bench cri: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
