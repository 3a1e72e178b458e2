// Benchmark: start 50 containers one after another and 50 at once with Debian's ctr,
// against berthd (Berth's shim) and Debian's containerd 1.6 (containerd-shim-runc-v2)
// in one run; then idle them and report the PSS of the daemon and of all shims.
//   node e2e/dist/bench/tasks.js [--count 50] [--idle 10]
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type DaemonUnderTest, daemonKinds, repoRoot } from "../daemons.js";
import { ctr, ctrOk } from "../fixtures/ctr.js";
import { buildSimpleImage } from "../fixtures/images.js";
import { startRegistry } from "../fixtures/registry.js";
import { percentile, pssKiB, shimPids } from "./measure.js";

const { values } = parseArgs({
  options: { count: { type: "string", default: "50" }, idle: { type: "string", default: "10" } },
});
const count = Number(values.count);
const runtimeOf = { berthd: "io.containerd.berth.v2", containerd: "io.containerd.runc.v2" } as const;

interface Result {
  daemon: string;
  runtime: string;
  sequentialMs: { p50: number; p99: number; total: number };
  concurrentMs: { p50: number; p99: number; total: number };
  daemonPssMiB: number;
  shims: number;
  shimsPssMiB: number;
  perShimPssMiB: number;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function benchOne(daemon: DaemonUnderTest, ref: string): Promise<Result> {
  const runtime = runtimeOf[daemon.kind];
  const ns = "bench";
  const ok = (args: string[]) => ctrOk(daemon.address, args, { namespace: ns, timeoutMs: 120_000 });
  await ok(["images", "pull", "--plain-http", ref]);
  const seq: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++)
    seq.push(await timed(() => ok(["run", "-d", "--runtime", runtime, ref, `seq-${i}`, "sleep", "100000"])));
  const seqTotal = performance.now() - t0;
  const t1 = performance.now();
  const conc = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      timed(() => ok(["run", "-d", "--runtime", runtime, ref, `con-${i}`, "sleep", "100000"])),
    ),
  );
  const concTotal = performance.now() - t1;
  await new Promise((r) => setTimeout(r, Number(values.idle) * 1000));
  const shims = shimPids(daemon.address);
  const shimsPss = shims.reduce((a, p) => a + pssKiB(p), 0);
  const result: Result = {
    daemon: daemon.kind,
    runtime,
    sequentialMs: {
      p50: Math.round(percentile(seq, 50)),
      p99: Math.round(percentile(seq, 99)),
      total: Math.round(seqTotal),
    },
    concurrentMs: {
      p50: Math.round(percentile(conc, 50)),
      p99: Math.round(percentile(conc, 99)),
      total: Math.round(concTotal),
    },
    daemonPssMiB: Number((pssKiB(daemon.pid) / 1024).toFixed(1)),
    shims: shims.length,
    shimsPssMiB: Number((shimsPss / 1024).toFixed(1)),
    perShimPssMiB: Number((shimsPss / 1024 / Math.max(1, shims.length)).toFixed(2)),
  };
  for (const prefix of ["seq", "con"]) {
    await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const id = `${prefix}-${i}`;
        await ctr(daemon.address, ["tasks", "kill", "-s", "SIGKILL", id], { namespace: ns });
        for (let k = 0; k < 50; k++) {
          if ((await ctr(daemon.address, ["tasks", "rm", id], { namespace: ns })).exitCode === 0) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        await ctr(daemon.address, ["containers", "rm", id], { namespace: ns });
      }),
    );
  }
  return result;
}

async function main(): Promise<void> {
  const registry = await startRegistry();
  const results: Result[] = [];
  try {
    const image = await buildSimpleImage(registry.host, "berth/bench-tasks", "v1");
    for (const { start } of daemonKinds) {
      const daemon = await start();
      try {
        results.push(await benchOne(daemon, image.ref));
        process.stderr.write(`${JSON.stringify(results[results.length - 1])}\n`);
      } finally {
        await daemon.stop();
      }
    }
  } finally {
    await registry.stop();
  }
  const b = results.find((r) => r.daemon === "berthd");
  const c = results.find((r) => r.daemon === "containerd");
  for (const r of results) {
    console.log(
      `${r.daemon.padEnd(10)} ${r.runtime}: sequential p50 ${r.sequentialMs.p50} ms p99 ${r.sequentialMs.p99} ms; concurrent total ${r.concurrentMs.total} ms p50 ${r.concurrentMs.p50} p99 ${r.concurrentMs.p99}; daemon PSS ${r.daemonPssMiB} MiB; ${r.shims} shims ${r.shimsPssMiB} MiB (${r.perShimPssMiB} MiB each)`,
    );
  }
  if (b && c) {
    console.log(
      `ratios berthd/containerd: sequential p50 ${(b.sequentialMs.p50 / c.sequentialMs.p50).toFixed(2)}, concurrent total ${(b.concurrentMs.total / c.concurrentMs.total).toFixed(2)}, PSS per shim ${(b.perShimPssMiB / c.perShimPssMiB).toFixed(2)}, total PSS ${((b.daemonPssMiB + b.shimsPssMiB) / (c.daemonPssMiB + c.shimsPssMiB)).toFixed(2)}`,
    );
  }
  const out = join(repoRoot, "bench-results");
  await mkdir(out, { recursive: true });
  await writeFile(join(out, "tasks.json"), `${JSON.stringify(results, null, 2)}\n`);
}

main().catch((err) => {
  console.error(`bench tasks: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
