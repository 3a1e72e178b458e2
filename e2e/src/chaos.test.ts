// The chaos run (chaos/chaos-run.ts, docs/chaos.md) on both CRI stacks, one after the
// other, on one test network and registry: chatty logger pods kept running through CRI
// with churn and ExecSync, while the stack's daemons, shims and `runc create`s are
// SIGKILLed in a seeded order. Both reports are printed side by side.
//
// Asserted for Berth only: no corrupt blob, every pod that should run still listed, and
// zero log lines lost. Zero containers lost, no pod left not ready and nothing left behind
// once every pod is removed are the goals, asserted with BERTH_CHAOS_STRICT=1 and reported
// otherwise: most runs meet the first two (dead shims' containers are adopted,
// docs/faults.md), but some runs still lose a killed shim's containers, and berth-cri or
// berthd killed in the middle of a pod's creation can leave an orphan task behind
// (docs/chaos.md, open). containerd 1.6 is the bar: reported, not asserted.
//
// Sizes: 40 pods and 75 s of faults per stack (BERTH_CHAOS_PODS, BERTH_CHAOS_SECONDS).
// On this 2-core machine each stack's run takes about 75 s of faults plus ~45 s of start,
// settle, blob check and removal, about 4 minutes for the file; 105 pods for 150 s
// (the driver's default) takes about 9. 40 pods make 3 pooled Berth shims (16 pods each),
// so a killed shim is one of several, and with a fault every 3–8 s each kind comes up a
// few times. The seed is BERTH_CHAOS_SEED, or one from the clock, printed first.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { pushBenchImages } from "./bench/cri-runtimes.js";
import { type ChaosEnvironment, type ChaosReport, chaosSeed, runChaos } from "./chaos/chaos-run.js";
import type { StackName } from "./chaos/faults.js";
import { reportTable } from "./chaos/report.js";
import { type TestNetwork, createTestNetwork } from "./cri/network.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";

const PODS = Number(process.env.BERTH_CHAOS_PODS ?? "40");
const SECONDS = Number(process.env.BERTH_CHAOS_SECONDS ?? "75");
const STRICT = process.env.BERTH_CHAOS_STRICT === "1";
const seed = chaosSeed(undefined);
/** Per stack: the run is bounded inside; this stops it (with its clean-up) if it is not. */
const STACK_TIMEOUT_MS = (SECONDS + 240) * 1000;

describe("chaos: SIGKILLs under pod churn", () => {
  let registry: Registry;
  let network: TestNetwork;
  let env: ChaosEnvironment;
  const reports: Partial<Record<StackName, ChaosReport>> = {};

  before(async () => {
    registry = await startRegistry();
    network = await createTestNetwork();
    env = { network, images: await pushBenchImages(registry.host, "chaos"), registryHost: registry.host };
  });
  after(async () => {
    await network?.cleanup();
    await registry?.stop();
  });

  const run = async (stack: StackName, signal: AbortSignal, diagnostic: (m: string) => void) => {
    diagnostic(`seed ${seed} (BERTH_CHAOS_SEED=${seed} repeats it), ${PODS} pods, ${SECONDS} s of faults`);
    const report = await runChaos(env, { stack, pods: PODS, seconds: SECONDS, seed, signal });
    reports[stack] = report;
    diagnostic(JSON.stringify(report));
    return report;
  };

  test("berth-cri on berthd", { timeout: STACK_TIMEOUT_MS }, async (t) => {
    const r = await run("berth", t.signal, (m) => t.diagnostic(m));
    assert.ok(
      Object.values(r.faults.injected).some((n) => (n ?? 0) > 0),
      "no fault was injected",
    );
    assert.ok(r.logs.lines > 0, "no log line was read: the loggers did not log");
    assert.equal(r.blobs.corrupt, 0, `corrupt blobs: ${r.blobs.corruptDigests.join(" ")}`);
    assert.ok(r.pods.shouldRun > 0, "no pod left that should run");
    assert.equal(r.pods.missing, 0, "pods that should run are no longer listed");
    assert.equal(r.logs.lost, 0, `log lines lost ${r.logs.lost}`);
    const open = `containers lost ${r.containers.lost} (${JSON.stringify(r.containers.lostByFault)}), pods not ready ${r.pods.notReady}, left behind: ${JSON.stringify(r.leaks)} ${JSON.stringify(r.leakSamples)}`;
    if (STRICT) {
      assert.equal(r.containers.lost, 0, open);
      assert.equal(r.pods.notReady, 0, open);
      assert.deepEqual(
        Object.entries(r.leaks).filter(([, n]) => n > 0),
        [],
        `left behind after every pod was removed: ${JSON.stringify(r.leakSamples)}`,
      );
    } else {
      t.diagnostic(`not asserted without BERTH_CHAOS_STRICT=1 (docs/chaos.md, open): ${open}`);
    }
  });

  test("containerd 1.6 (the bar: reported only)", { timeout: STACK_TIMEOUT_MS }, async (t) => {
    const r = await run("containerd", t.signal, (m) => t.diagnostic(m));
    assert.ok(r.logs.lines > 0, "no log line was read: the loggers did not log");
  });

  test("both reports side by side", (t) => {
    const done = [reports.berth, reports.containerd].filter((r) => r !== undefined);
    for (const line of reportTable(done).split("\n")) t.diagnostic(line);
    assert.equal(done.length, 2, "a stack's run did not finish");
  });
});
