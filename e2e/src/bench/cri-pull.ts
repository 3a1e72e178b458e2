// Benchmark: a cold pull + unpack of a ~100 MB multi-layer image from the local registry
// through CRI, with the real crictl (PullImage, as kubelet pulls), into berth-cri on berthd
// and into Debian's containerd 1.6 CRI plugin; and, as the core's own path for comparison,
// Debian's ctr pulling the same image into a bare berthd. Each run starts fresh daemons, so
// every pull is cold; runtimes alternate within a run. Prints the ratios and writes
// bench-results/cri-pull.json. Not a test: nothing here asserts a time.
//   node e2e/dist/bench/cri-pull.js [--runs N] [--mb 100] [--layers 4]
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { execa } from "execa";
import { createTestNetwork } from "../cri/network.js";
import { startBerthdDaemon } from "../daemons.js";
import { ctrOk } from "../fixtures/ctr.js";
import { buildLargeImage } from "../fixtures/images.js";
import { peerTool } from "../fixtures/peers.js";
import { startRegistry } from "../fixtures/registry.js";
import {
  type CriRuntime,
  keepLogs,
  pushBenchImages,
  resultsDir,
  startBerthRuntime,
  startContainerdRuntime,
} from "./cri-runtimes.js";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    mb: { type: "string", default: "100" },
    layers: { type: "string", default: "4" },
  },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs: expected a positive integer");

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

async function timed(what: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await what();
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const crictl = peerTool("crictl");
  const registry = await startRegistry();
  const network = await createTestNetwork();
  const results: Record<string, number[]> = { "berth-cri": [], containerd: [], "ctr into berthd": [] };
  try {
    const images = await pushBenchImages(registry.host, "bench-cri-pull");
    const image = await buildLargeImage(
      registry.host,
      "berth/bench",
      "cri-pull",
      Number(values.mb),
      Number(values.layers),
    );
    for (let i = 0; i < runs; i++) {
      for (const kind of ["berth-cri", "containerd"] as const) {
        const rt: CriRuntime =
          kind === "berth-cri"
            ? await startBerthRuntime({ name: "berth", network, images, registryHost: registry.host })
            : await startContainerdRuntime(network, images, registry.host);
        try {
          const ms = await timed(() =>
            execa(
              crictl,
              [
                "--runtime-endpoint",
                `unix://${rt.address}`,
                "--image-endpoint",
                `unix://${rt.address}`,
                "--timeout",
                "600s",
                "pull",
                image.ref,
              ],
              {
                timeout: 600_000,
              },
            ),
          );
          results[kind]!.push(ms);
          process.stderr.write(`run ${i + 1}/${runs} ${kind}: ${ms.toFixed(0)} ms\n`);
        } catch (err) {
          await keepLogs("cri-pull", rt);
          throw err;
        } finally {
          await rt.stop();
        }
      }
      const berthd = await startBerthdDaemon();
      try {
        const ms = await timed(() =>
          ctrOk(berthd.address, ["images", "pull", "--plain-http", image.ref], { timeoutMs: 600_000 }),
        );
        results["ctr into berthd"]!.push(ms);
        process.stderr.write(`run ${i + 1}/${runs} ctr into berthd: ${ms.toFixed(0)} ms\n`);
      } finally {
        await berthd.stop();
      }
    }
  } finally {
    await network.cleanup();
    await registry.stop();
  }
  const b = median(results["berth-cri"]!);
  const c = median(results.containerd!);
  const k = median(results["ctr into berthd"]!);
  const summary = {
    benchmark: "cold pull + unpack through CRI (crictl pull)",
    imageMB: Number(values.mb),
    layers: Number(values.layers),
    runs,
    ms: results,
    medianMs: { "berth-cri": Math.round(b), containerd: Math.round(c), "ctr into berthd": Math.round(k) },
    ratio: Number((b / c).toFixed(3)),
    ratioToCtrPath: Number((b / k).toFixed(3)),
  };
  console.log(
    `CRI pull ${values.mb} MB / ${values.layers} layers, median of ${runs}: berth-cri ${b.toFixed(0)} ms, containerd ${c.toFixed(0)} ms, ratio berth/containerd ${summary.ratio}; ctr into berthd ${k.toFixed(0)} ms (berth-cri/ctr path ${summary.ratioToCtrPath})`,
  );
  await mkdir(resultsDir, { recursive: true });
  await writeFile(join(resultsDir, "cri-pull.json"), `${JSON.stringify(summary, null, 2)}\n`);
}

main().catch((err) => {
  console.error(`bench cri-pull: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
