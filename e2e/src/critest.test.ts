// The CRI validation suite (critest, from cri-tools, each pinned version) against berth-cri
// on berthd (Berth's shim) and against Debian's containerd 1.6 with its built-in CRI
// plugin, started the same way on a test CNI network. The suite's images are built from
// busybox and served by a local registry under their upstream names (registry.k8s.io,
// gcr.io and k8s.gcr.io are mirrored to it on both stacks). Every spec containerd passes,
// Berth must pass; the pass/fail/skip counts of each run are printed as a table.
//
// BERTH_CRITEST_FOCUS (a ginkgo focus regex) runs part of the suite, for a quick look;
// BERTH_CRITEST_VERSIONS (comma-separated) picks critest versions.
import assert from "node:assert/strict";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import {
  type BenchImages,
  type CriRuntime,
  keepLogs,
  pushBenchImages,
  resultsDir,
  startBerthRuntime,
  startContainerdRuntime,
} from "./bench/cri-runtimes.js";
import { CRITEST_REGISTRY_HOSTS, pushCritestImages } from "./cri/critest-images.js";
import { type TestNetwork, createTestNetwork } from "./cri/network.js";
import { peerTool, peerVersions } from "./fixtures/peers.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { removeDir, tempDir } from "./fixtures/tmp.js";

/** ginkgo processes: most specs wait (on containers, timeouts, polling), so more than the 2 cores. */
const PARALLEL = Number(process.env.BERTH_CRITEST_PARALLEL ?? 4);
/** One spec order for every run, so that the stacks see the same sequence. */
const SEED = 20240101;
const FOCUS = process.env.BERTH_CRITEST_FOCUS;
/** A whole run's bound (ginkgo's own --timeout, and a little more for the process). */
const RUN_TIMEOUT_MS = 6 * 60_000;

type SpecState = "passed" | "failed" | "skipped" | "pending" | string;

interface SpecResult {
  name: string;
  state: SpecState;
  message: string;
  seconds: number;
}

interface Run {
  stack: string;
  version: string;
  specs: SpecResult[];
  /** Failures outside any spec (BeforeSuite, AfterSuite, reporting). */
  suiteFailures: string[];
  seconds: number;
}

interface GinkgoSpecReport {
  ContainerHierarchyTexts: string[] | null;
  LeafNodeText: string;
  LeafNodeType: string;
  State: string;
  RunTime: number;
  Failure?: { Message?: string; Location?: { FileName?: string; LineNumber?: number } };
}

const specName = (r: GinkgoSpecReport): string =>
  [...(r.ContainerHierarchyTexts ?? []), r.LeafNodeText].join(" ").trim();

function failureText(r: GinkgoSpecReport): string {
  const where = r.Failure?.Location;
  const at = where?.FileName ? ` (${where.FileName.replace(/^.*\/pkg\//, "pkg/")}:${where.LineNumber})` : "";
  return `${(r.Failure?.Message ?? "").trim()}${at}`;
}

async function runCritest(rt: CriRuntime, address: string, version: string, tag: string): Promise<Run> {
  const critest = peerTool("critest", version);
  const dir = await tempDir("critest-");
  const report = join(dir, "report.json");
  const log = join(dir, "critest.log");
  const args = [
    `-parallel=${PARALLEL}`,
    `--runtime-endpoint=unix://${address}`,
    `--image-endpoint=unix://${address}`,
    `--report-dir=${dir}`,
    `--ginkgo.json-report=${report}`,
    `--ginkgo.seed=${SEED}`,
    "--ginkgo.skip=benchmark",
    // Both stacks alike: a spec that fails once on a busy 2-core machine (OOM timing, a
    // slow start) is run again before it counts, as CI runs of the suite upstream do.
    "--ginkgo.flake-attempts=2",
    `--ginkgo.timeout=${RUN_TIMEOUT_MS / 60_000 - 1}m`,
    "--ginkgo.no-color",
    "--ginkgo.v",
    ...(FOCUS ? [`--ginkgo.focus=${FOCUS}`] : []),
  ];
  const started = Date.now();
  // --parallel runs the `ginkgo` built beside critest; /etc/crictl.yaml is not read (cwd has none).
  const r = await execa(critest, args, {
    cwd: dir,
    env: { PATH: `${dirname(critest)}:${process.env.PATH}` },
    reject: false,
    timeout: RUN_TIMEOUT_MS,
    all: true,
  });
  const seconds = (Date.now() - started) / 1000;
  await writeFile(log, r.all ?? "");
  const raw = await readFile(report, "utf8").catch(() => undefined);
  if (raw === undefined) {
    await keepRun(tag, rt, log);
    assert.fail(
      `critest ${version} against ${rt.name} wrote no report (exit ${r.exitCode ?? r.signal}):\n${(r.all ?? "").slice(-4000)}`,
    );
  }
  const suites = JSON.parse(raw) as Array<{ SpecReports: GinkgoSpecReport[] | null }>;
  const specs: SpecResult[] = [];
  const suiteFailures: string[] = [];
  for (const s of suites.flatMap((x) => x.SpecReports ?? [])) {
    if (s.LeafNodeType === "It") {
      specs.push({ name: specName(s), state: s.State, message: failureText(s), seconds: s.RunTime / 1e9 });
    } else if (s.State !== "passed" && s.State !== "skipped") {
      suiteFailures.push(`${s.LeafNodeType} ${s.State}: ${failureText(s)}`);
    }
  }
  const run = { stack: rt.name, version, specs, suiteFailures, seconds };
  if (suiteFailures.length > 0 || specs.some((s) => s.state !== "passed" && s.state !== "skipped"))
    await keepRun(tag, rt, log);
  await removeDir(dir);
  return run;
}

/** A run with failures keeps critest's output and the daemons' logs in bench-results/. */
async function keepRun(tag: string, rt: CriRuntime, log: string): Promise<void> {
  await keepLogs(tag, rt);
  await mkdir(resultsDir, { recursive: true });
  const to = join(resultsDir, `${tag}-${rt.name.replace(/[^a-z0-9.]+/gi, "-")}-critest.log`);
  await copyFile(log, to).then(
    () => process.stderr.write(`kept ${to}\n`),
    () => undefined,
  );
}

const count = (run: Run, state: string) =>
  run.specs.filter((s) =>
    state === "failed" ? s.state !== "passed" && s.state !== "skipped" : s.state === state,
  ).length;

function table(runs: Run[]): string {
  const rows = [
    "| critest | stack | specs | passed | failed | skipped | wall time |",
    "|---|---|---:|---:|---:|---:|---:|",
    ...runs.map(
      (r) =>
        `| ${r.version} | ${r.stack} | ${r.specs.length} | ${count(r, "passed")} | ${count(r, "failed")} | ${count(r, "skipped")} | ${r.seconds.toFixed(0)} s |`,
    ),
  ];
  return rows.join("\n");
}

let registry: Registry;
let network: TestNetwork;
let images: BenchImages;
const runs: Run[] = [];
const started = Date.now();

before(async () => {
  registry = await startRegistry();
  await pushCritestImages(registry.host);
  images = await pushBenchImages(registry.host, "critest");
  network = await createTestNetwork();
});

after(async () => {
  await network?.cleanup();
  await registry?.stop();
  if (runs.length === 0) return;
  const lines = [
    "",
    `critest results (${PARALLEL} ginkgo processes, seed ${SEED}${FOCUS ? `, focus ${FOCUS}` : ""}):`,
    table(runs),
    `whole file: ${((Date.now() - started) / 1000).toFixed(0)} s`,
  ];
  for (const r of runs) {
    const failed = r.specs.filter((s) => s.state !== "passed" && s.state !== "skipped");
    if (failed.length === 0) continue;
    lines.push("", `${r.stack}, critest ${r.version}: not passed`);
    for (const s of failed) lines.push(`  [${s.state}] ${s.name}\n      ${s.message.split("\n")[0]}`);
  }
  process.stdout.write(`${lines.join("\n")}\n`);
});

async function withRuntime<T>(
  start: () => Promise<CriRuntime>,
  fn: (rt: CriRuntime) => Promise<T>,
): Promise<T> {
  const rt = await start();
  try {
    return await fn(rt);
  } finally {
    await rt.stop();
  }
}

function socketOf(rt: CriRuntime): string {
  assert.ok(rt.address, `${rt.name} did not say where its CRI socket is`);
  return rt.address;
}

const VERSIONS = process.env.BERTH_CRITEST_VERSIONS?.split(",") ?? peerVersions("critest");

for (const version of VERSIONS) {
  describe(`critest ${version}`, { timeout: 2 * RUN_TIMEOUT_MS + 120_000 }, () => {
    let reference: Run | undefined;

    test("containerd 1.6 runs the suite (the reference)", async () => {
      reference = await withRuntime(
        () => startContainerdRuntime(network, images, registry.host, CRITEST_REGISTRY_HOSTS),
        (rt) => runCritest(rt, socketOf(rt), version, `critest-${version}`),
      );
      runs.push(reference);
      assert.deepEqual(reference.suiteFailures, [], "the suite itself failed on containerd");
      assert.ok(count(reference, "passed") > 0, "containerd passed no spec: the set-up is broken");
    });

    test("berth-cri on berthd passes every spec containerd passes", async () => {
      const berth = await withRuntime(
        () =>
          startBerthRuntime({
            name: "berth",
            network,
            images,
            registryHost: registry.host,
            mirroredHosts: CRITEST_REGISTRY_HOSTS,
          }),
        (rt) => runCritest(rt, socketOf(rt), version, `critest-${version}`),
      );
      runs.push(berth);
      assert.ok(reference, "no containerd run to compare with");
      assert.deepEqual(berth.suiteFailures, [], "the suite itself failed on Berth");
      const byName = new Map(berth.specs.map((s) => [s.name, s]));
      const regressions: string[] = [];
      for (const ref of reference.specs.filter((s) => s.state === "passed")) {
        const ours = byName.get(ref.name);
        if (ours?.state === "passed") continue;
        regressions.push(`${ref.name}\n    ${ours ? `${ours.state}: ${ours.message}` : "not run"}`);
      }
      assert.deepEqual(regressions, [], `Berth fails ${regressions.length} spec(s) containerd passes`);
    });
  });
}
