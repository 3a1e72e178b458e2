// The chaos run from the command line, on one stack or both (berth first), on one test
// network and local registry; prints the reports as JSON lines and a table, and writes
// them to bench-results/chaos.json.
//   node e2e/dist/chaos/run.js [--stack berth|containerd|both] [--pods 105] [--seconds 150]
//                              [--seed N] [--settle 30]
// The seed (--seed, else BERTH_CHAOS_SEED, else one from the clock) drives every choice.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { pushBenchImages, resultsDir } from "../bench/cri-runtimes.js";
import { createTestNetwork } from "../cri/network.js";
import { startRegistry } from "../fixtures/registry.js";
import { type ChaosReport, chaosSeed, runChaos } from "./chaos-run.js";
import type { StackName } from "./faults.js";
import { reportTable } from "./report.js";

const { values } = parseArgs({
  options: {
    stack: { type: "string", default: "both" },
    pods: { type: "string", default: "105" },
    seconds: { type: "string", default: "150" },
    seed: { type: "string" },
    settle: { type: "string", default: "30" },
  },
});
const stacks: StackName[] = values.stack === "both" ? ["berth", "containerd"] : [values.stack as StackName];
for (const s of stacks) {
  if (s !== "berth" && s !== "containerd")
    throw new Error(`--stack: expected berth, containerd or both, got ${s}`);
}
const pods = Number(values.pods);
const seconds = Number(values.seconds);
const settleSeconds = Number(values.settle);
if (!Number.isInteger(pods) || pods < 1) throw new Error("--pods: expected a positive integer");
if (!(seconds > 0)) throw new Error("--seconds: expected a positive number");
if (!(settleSeconds >= 0)) throw new Error("--settle: expected seconds");
const seed = chaosSeed(values.seed);

async function main(): Promise<void> {
  process.stderr.write(`chaos: seed ${seed}\n`);
  const registry = await startRegistry();
  const network = await createTestNetwork();
  const reports: ChaosReport[] = [];
  try {
    const images = await pushBenchImages(registry.host, "chaos");
    for (const stack of stacks) {
      const report = await runChaos(
        { network, images, registryHost: registry.host },
        { stack, pods, seconds, seed, settleSeconds },
      );
      reports.push(report);
      console.log(JSON.stringify(report));
    }
  } finally {
    await network.cleanup();
    await registry.stop();
  }
  console.log(reportTable(reports));
  await mkdir(resultsDir, { recursive: true });
  await writeFile(join(resultsDir, "chaos.json"), `${JSON.stringify(reports, null, 2)}\n`);
}

main().catch((err) => {
  console.error(`chaos: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
