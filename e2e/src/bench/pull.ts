// Benchmark: a cold pull + unpack of a ~100 MB multi-layer image from the local registry,
// by Debian's ctr, into berthd and into Debian's containerd 1.6, alternating, in one run.
// Prints a table and writes bench-results/pull.json. Not a test: nothing here asserts a time.
//   node e2e/dist/bench/pull.js [--runs N] [--mb 100] [--layers 5]
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type DaemonUnderTest, daemonKinds, repoRoot } from "../daemons.js";
import { ctrOk } from "../fixtures/ctr.js";
import { buildLargeImage } from "../fixtures/images.js";
import { startRegistry } from "../fixtures/registry.js";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    mb: { type: "string", default: "100" },
    layers: { type: "string", default: "5" },
  },
});
const runs = Number(values.runs);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

async function main(): Promise<void> {
  const registry = await startRegistry();
  const results: Record<string, number[]> = { berthd: [], containerd: [] };
  try {
    const image = await buildLargeImage(
      registry.host,
      "berth/bench",
      "pull",
      Number(values.mb),
      Number(values.layers),
    );
    for (let i = 0; i < runs; i++) {
      for (const { kind, start } of daemonKinds) {
        const daemon: DaemonUnderTest = await start();
        try {
          const t0 = process.hrtime.bigint();
          await ctrOk(daemon.address, ["images", "pull", "--plain-http", image.ref], { timeoutMs: 600_000 });
          const ms = Number(process.hrtime.bigint() - t0) / 1e6;
          results[kind]!.push(ms);
          process.stderr.write(`run ${i + 1}/${runs} ${kind}: ${ms.toFixed(0)} ms\n`);
        } finally {
          await daemon.stop();
        }
      }
    }
  } finally {
    await registry.stop();
  }
  const b = median(results.berthd!);
  const c = median(results.containerd!);
  const summary = {
    benchmark: "cold pull + unpack with ctr",
    imageMB: Number(values.mb),
    layers: Number(values.layers),
    runs,
    berthdMs: results.berthd,
    containerdMs: results.containerd,
    medianBerthdMs: Math.round(b),
    medianContainerdMs: Math.round(c),
    ratio: Number((b / c).toFixed(3)),
  };
  console.log(
    `pull ${values.mb} MB / ${values.layers} layers, median of ${runs}: berthd ${b.toFixed(0)} ms, containerd ${c.toFixed(0)} ms, ratio berthd/containerd ${summary.ratio}`,
  );
  const out = join(repoRoot, "bench-results");
  await mkdir(out, { recursive: true });
  await writeFile(join(out, "pull.json"), `${JSON.stringify(summary, null, 2)}\n`);
}

main().catch((err) => {
  console.error(`bench pull: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
