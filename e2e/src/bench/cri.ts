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
import { existsSync } from "node:fs";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { parseArgs } from "node:util";
import type { PodSandboxConfig } from "@berth/api/cri/runtime/v1/api";
import { type BerthCriUnderTest, startBerthCri } from "../cri/berth-cri.js";
import { type CriClient, criClient } from "../cri/client.js";
import { type TestNetwork, createTestNetwork } from "../cri/network.js";
import { pushPauseImage } from "../cri/pause-image.js";
import { type DaemonUnderTest, repoRoot, startBerthdDaemon } from "../daemons.js";
import { CONTAINERD_BINARY, type Containerd, startContainerd } from "../fixtures/containerd.js";
import { buildSimpleImage } from "../fixtures/images.js";
import { type ManagedProcess, spawnManaged } from "../fixtures/process.js";
import { startRegistry } from "../fixtures/registry.js";
import { removeDir, tempDir, waitFor } from "../fixtures/tmp.js";
import { cpuSeconds, percentile, pssKiB, shimPids } from "./measure.js";

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

/** Daemons log at warn, as the containerd fixture does, so that logging costs the same. */
const LOG_LEVEL = "warn";

interface Result {
  runtime: string;
  pods: number;
  startMs: { total: number; p50: number; p99: number };
  teardownMs: number;
  shims: number;
  pssMiB: { daemons: number; shims: number; total: number; perShim: number };
  idleCpuSeconds: { daemons: number; shims: number; total: number; window: number };
}

interface Runtime {
  name: string;
  client: CriClient;
  /** Daemon pids (berthd + berth-cri, or containerd). */
  daemonPids(): number[];
  shimPids(): number[];
  /** The daemons' log files, kept when a run fails. */
  logFiles(): string[];
  stop(): Promise<void>;
}

interface Images {
  app: string;
  pause: string;
}

const mib = (kib: number) => Number((kib / 1024).toFixed(1));
const round2 = (x: number) => Number(x.toFixed(2));

function podConfig(i: number, logDir: string): PodSandboxConfig {
  const name = `bench-${i}`;
  return {
    metadata: { name, namespace: "bench", uid: `bench-uid-${i}`, attempt: 0 },
    hostname: name,
    logDirectory: join(logDir, name),
    dnsConfig: undefined,
    portMappings: [],
    labels: { bench: "cri" },
    annotations: {},
    linux: undefined,
    windows: undefined,
  };
}

/** kubelet's sequence for one pod; returns its duration in ms. */
async function startPod(client: CriClient, images: Images, config: PodSandboxConfig): Promise<number> {
  const t0 = performance.now();
  const { podSandboxId } = await client.runtime.runPodSandbox({ config, runtimeHandler: "" });
  const { containerId } = await client.runtime.createContainer({
    podSandboxId,
    config: {
      metadata: { name: "sleep", attempt: 0 },
      image: { image: images.app, annotations: {} },
      command: ["sleep", "100000"],
      args: [],
      workingDir: "",
      envs: [],
      mounts: [],
      devices: [],
      labels: {},
      annotations: {},
      logPath: "sleep/0.log",
      stdin: false,
      stdinOnce: false,
      tty: false,
      linux: undefined,
      windows: undefined,
    },
    sandboxConfig: config,
  });
  await client.runtime.startContainer({ containerId });
  return performance.now() - t0;
}

async function removeAllPods(client: CriClient): Promise<void> {
  const { items } = await client.runtime.listPodSandbox({});
  const queue = [...items];
  const worker = async () => {
    for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
      await client.runtime.stopPodSandbox({ podSandboxId: p.id });
      await client.runtime.removePodSandbox({ podSandboxId: p.id });
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

async function measure(rt: Runtime, images: Images): Promise<Result> {
  for (const image of [images.pause, images.app])
    await rt.client.images.pullImage({ image: { image, annotations: {} } });
  const logDir = await tempDir("bench-cri-logs-");
  try {
    const t0 = performance.now();
    // Every start settles before a failure is reported, so that clean-up finds every pod.
    const settled = await Promise.allSettled(
      Array.from({ length: pods }, (_, i) => startPod(rt.client, images, podConfig(i, logDir))),
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
    const daemons = rt.daemonPids();
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

/** The command-line value after `flag` of a running process. */
async function argOf(pid: number, flag: string): Promise<string> {
  const argv = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0");
  const value = argv[argv.indexOf(flag) + 1];
  if (argv.indexOf(flag) < 0 || value === undefined) throw new Error(`no ${flag} in ${argv.join(" ")}`);
  return value;
}

/** berthd at LOG_LEVEL: the fixture starts it at debug; it is restarted before any container exists. */
async function quietBerthd(berthd: DaemonUnderTest): Promise<void> {
  const file = await argOf(berthd.pid, "--config");
  const config = await readFile(file, "utf8");
  await writeFile(file, config.replace(/^logLevel: .*$/m, `logLevel: ${LOG_LEVEL}`));
  await berthd.kill();
  await berthd.restart();
}

/** startBerthCri writes a fixed set of keys: add the shim policy (and log level) and restart it. */
async function reconfigure(cri: BerthCriUnderTest, patch: Record<string, unknown>): Promise<void> {
  const file = await argOf(cri.pid, "--config");
  const config = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
  await cri.stop();
  await writeFile(file, JSON.stringify({ ...config, ...patch }, null, 2));
  await cri.start();
}

async function berth(
  policy: string,
  poolSize: number,
  network: TestNetwork,
  images: Images,
  registryHost: string,
): Promise<Runtime> {
  const berthd = await startBerthdDaemon();
  let cri: BerthCriUnderTest | undefined;
  try {
    await quietBerthd(berthd);
    cri = await startBerthCri({
      containerdAddress: berthd.address,
      runtime: "io.containerd.berth.v2",
      cniConfDir: network.confDir,
      sandboxImage: images.pause,
      plainHttp: [registryHost],
    });
    await reconfigure(cri, { shim: { policy, poolSize }, logLevel: LOG_LEVEL });
  } catch (err) {
    await cri?.remove();
    await berthd.stop();
    throw err;
  }
  const client = criClient(cri.address);
  const criDaemon = cri;
  return {
    name: policy === "pooled" ? `berth pooled/${poolSize}` : `berth ${policy}`,
    client,
    daemonPids: () => [berthd.pid, criDaemon.pid],
    shimPids: () => shimPids(berthd.address),
    logFiles: () => [berthd.logFile, criDaemon.logFile],
    async stop() {
      client.close();
      await criDaemon.remove();
      await berthd.stop();
    },
  };
}

/**
 * The fixture's containerd with `restrict_oom_score_adj = true`, for which it has no option:
 * its config gets the key and containerd is started again on it before any pod exists.
 * Without it runc cannot give the pause process containerd's -998 on a node that lacks
 * CAP_SYS_RESOURCE (berth-cri clamps to its own score there already).
 */
async function containerd(network: TestNetwork, images: Images, registryHost: string): Promise<Runtime> {
  // containerd reaches the plain-HTTP registry through a hosts.toml of its own.
  const hostsDir = await tempDir("bench-cri-hosts-");
  await mkdir(join(hostsDir, registryHost));
  await writeFile(
    join(hostsDir, registryHost, "hosts.toml"),
    `server = "http://${registryHost}"\n\n[host."http://${registryHost}"]\n  capabilities = ["pull", "resolve"]\n`,
  );
  let c: Containerd | undefined;
  let proc: ManagedProcess | undefined;
  try {
    c = await startContainerd({
      cri: {
        sandboxImage: images.pause,
        cniBinDir: "/usr/lib/cni",
        cniConfDir: network.confDir,
        registryConfigPath: hostsDir,
      },
    });
    const config = await readFile(c.configFile, "utf8");
    const header = /^( *)\[plugins\."io\.containerd\.grpc\.v1\.cri"\]\n/m;
    if (!header.test(config)) throw new Error(`no CRI plugin table in ${c.configFile}`);
    await writeFile(c.configFile, config.replace(header, "$&$1  restrict_oom_score_adj = true\n"));
    const first = c.pid;
    process.kill(first, "SIGTERM");
    await waitFor(() => !existsSync(`/proc/${first}`), {
      what: `containerd ${first} to exit`,
      timeoutMs: 15_000,
    });
    proc = await spawnManaged(CONTAINERD_BINARY, ["--config", c.configFile], {
      logFile: c.logFile,
      cwd: dirname(c.configFile),
    });
    const address = c.address;
    const probe = criClient(address);
    try {
      await waitFor(
        async () => (await probe.runtime.version({}, { signal: AbortSignal.timeout(2_000) })).version,
        {
          what: `containerd's CRI on ${address} (log ${c.logFile})`,
          timeoutMs: 30_000,
          intervalMs: 200,
        },
      );
    } finally {
      probe.close();
    }
  } catch (err) {
    await proc?.stop();
    await c?.stop();
    await removeDir(hostsDir);
    throw err;
  }
  const daemon = proc;
  const fixture = c;
  const client = criClient(fixture.address);
  return {
    name: "containerd 1.6",
    client,
    daemonPids: () => [daemon.pid],
    shimPids: () => shimPids(fixture.address),
    logFiles: () => [fixture.logFile],
    async stop() {
      client.close();
      await daemon.stop(10_000);
      // The fixture's cleanup: shims left, mounts, its directories.
      await fixture.stop();
      await removeDir(hostsDir);
    },
  };
}

const resultsDir = join(repoRoot, "bench-results");

/** Copies a failed run's daemon logs to bench-results/ before its directories go. */
async function keepLogs(rt: Runtime): Promise<void> {
  await mkdir(resultsDir, { recursive: true });
  for (const file of rt.logFiles()) {
    const to = join(resultsDir, `cri-${rt.name.replace(/[^a-z0-9.]+/gi, "-")}-${basename(file)}`);
    await copyFile(file, to).then(
      () => process.stderr.write(`kept ${to}\n`),
      () => undefined,
    );
  }
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
    const app = await buildSimpleImage(registry.host, "berth/bench-cri", "v1");
    const images = { app: app.ref, pause: await pushPauseImage(app) };
    const runs: Array<() => Promise<Runtime>> = [() => containerd(network, images, registry.host)];
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
        await keepLogs(rt);
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
