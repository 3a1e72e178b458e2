// One chaos run on one CRI stack: N pods of a chatty logger kept running through CRI, with
// pods created and removed all along and ExecSync into random ones, while the stack's
// processes are SIGKILLed (faults.ts) in a seeded random order. After the faults stop
// and the stack has settled, it counts what was lost (containers, log lines), checks the
// content store, removes every pod and looks for what was left behind (leaks.ts).
// Every loop is bounded; whatever happens, every pod is removed and the daemons stopped.
import { join } from "node:path";
import {
  ContainerState,
  LinuxPodSandboxConfig,
  type PodSandboxConfig,
  PodSandboxState,
} from "@berth/api/cri/runtime/v1/api";
import {
  type BenchImages,
  type CriRuntime,
  benchPodConfig,
  keepLogs,
  pullBenchImages,
  removeAllPods,
  startBerthRuntime,
  startContainerdRuntime,
  startOneContainerPod,
} from "../bench/cri-runtimes.js";
import { removePodsQuietly } from "../cri/client.js";
import type { TestNetwork } from "../cri/network.js";
import { cgroupsUnder, removeCgroupParent } from "../fixtures/cgroups.js";
import { removeDir, sleep, tempDir, waitFor } from "../fixtures/tmp.js";
import { countLogFile } from "./cri-log.js";
import { FAULTS, type FaultKind, type StackName } from "./faults.js";
import {
  type Leaks,
  checkBlobs,
  findLeaks,
  killStragglers,
  networkRules,
  removeOrphans,
  runcStateLeaks,
} from "./leaks.js";
import { SeededRandom } from "./random.js";

export interface ChaosOptions {
  stack: StackName;
  /** Pods kept running (default 105). */
  pods: number;
  /** How long faults are injected, in seconds (default 150). */
  seconds: number;
  seed: number;
  /** Bound of the wait for the stack to settle after the last fault (default 30 s). */
  settleSeconds?: number;
  /** Pause between two faults, in ms: a random value in this range (default 3–8 s). */
  faultGapMs?: [number, number];
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  /** Ends the run early: the faults stop, the run throws, and its clean-up runs. */
  signal?: AbortSignal;
}

/** What both stacks share: the test network and the images in the local registry. */
export interface ChaosEnvironment {
  network: TestNetwork;
  images: BenchImages;
  registryHost: string;
}

export interface FaultRecord {
  /** Seconds since the fault phase began. */
  at: number;
  kind: FaultKind;
  /** What was killed; "skipped: …" when nothing was found to kill. */
  target: string;
  /** How long the injection took (a daemon's restart until it answers). */
  seconds: number;
  /** The container a killed `runc create` was creating. */
  containerId?: string;
}

export interface ChaosReport {
  stack: StackName;
  runtime: string;
  seed: number;
  date: string;
  targetPods: number;
  faultSeconds: number;
  wallSeconds: number;
  faults: {
    injected: Partial<Record<FaultKind, number>>;
    skipped: Partial<Record<FaultKind, number>>;
    log: FaultRecord[];
  };
  pods: {
    created: number;
    /** Creations (RunPodSandbox, CreateContainer or StartContainer) that failed. */
    createFailed: number;
    /** Their errors, ids left out, by count. */
    createErrors: Record<string, number>;
    removed: number;
    removeFailed: number;
    /** Created, not removed: each should be listed, READY, with its container RUNNING. */
    shouldRun: number;
    /** Pods that should run but ListPodSandbox no longer lists. */
    missing: number;
    /** Pods that should run, listed but not READY. */
    notReady: number;
    /** Pods of this run listed that neither should run nor failed to be removed: left by failed creations. */
    stray: number;
  };
  containers: {
    shouldRun: number;
    running: number;
    /** Not RUNNING at the end, gone, or started again (another startedAt). */
    lost: number;
    /**
     * Lost containers by fault: `shim` for those a killed shim was the parent of, else the
     * fault that came last before the loss was first seen.
     */
    lostByFault: Record<string, number>;
  };
  exec: { ok: number; failed: number };
  logs: {
    /** Surviving containers whose log was read. */
    containers: number;
    lines: number;
    lost: number;
    duplicated: number;
    malformed: number;
    /** Containers with at least one lost line. */
    withGaps: number;
  };
  blobs: { checked: number; corrupt: number; corruptDigests: string[] };
  leaks: Record<keyof Leaks, number>;
  /** The first few of each leak, to look at. */
  leakSamples: Partial<Record<keyof Leaks, string[]>>;
  /** Leases left with an expiry (garbage collection drops them then): not counted as leaks. */
  expiringLeases: string[];
}

type PodPhase = "starting" | "running" | "removing" | "removed" | "failed";

interface ChaosPod {
  name: string;
  phase: PodPhase;
  podSandboxId?: string;
  containerId?: string;
  startedAt?: bigint;
  logPath: string;
  /** First seen not running (by the monitor): when, and the fault that came last before. */
  lostSeen?: { at: number; fault: string };
}

/** The run's seed: `given`, else BERTH_CHAOS_SEED, else one from the clock. */
export function chaosSeed(given: string | undefined): number {
  const text = given ?? process.env.BERTH_CHAOS_SEED;
  if (text === undefined || text === "") return Date.now() % 1_000_000;
  const seed = Number(text);
  if (!Number.isInteger(seed) || seed < 0)
    throw new Error(`seed: expected a non-negative integer, got ${text}`);
  return seed;
}

/** The logger each pod runs: `<pod> <seq>` on stdout every `periodMs`, forever. */
function loggerCommand(pod: string, periodMs: number): string[] {
  const period = (periodMs / 1000).toFixed(3);
  return ["sh", "-c", `i=0; while :; do echo "${pod} $i"; i=$((i+1)); sleep ${period}; done`];
}

/** Bound of each CRI call of the workload. */
const CALL_MS = 30_000;
const call = () => ({ signal: AbortSignal.timeout(CALL_MS) });

const countBy = <K extends string>(keys: readonly K[]): Partial<Record<K, number>> => {
  const out: Partial<Record<K, number>> = {};
  for (const k of keys) out[k] = (out[k] ?? 0) + 1;
  return out;
};

export async function startChaosStack(stack: StackName, env: ChaosEnvironment): Promise<CriRuntime> {
  // berth-cri's default shim policy (pooled by 16), as a node gets it.
  return stack === "berth"
    ? startBerthRuntime({
        name: "berth",
        network: env.network,
        images: env.images,
        registryHost: env.registryHost,
      })
    : startContainerdRuntime(env.network, env.images, env.registryHost);
}

export async function runChaos(env: ChaosEnvironment, options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const wall0 = performance.now();
  const root = new SeededRandom(options.seed);
  const runId = `chaos-${options.stack}-${process.pid}`;
  const cgroupParent = runId;
  const logDir = await tempDir(`${runId}-logs-`);
  const rulesBefore = await networkRules(env.network);
  log(`chaos ${options.stack}: seed ${options.seed}, ${options.pods} pods, ${options.seconds} s of faults`);
  let rt: CriRuntime | undefined;
  let failed = false;
  const killedCreates: string[] = [];
  try {
    rt = await startChaosStack(options.stack, env);
    await pullBenchImages(rt.client, env.images);
    const report = await drive(rt, env, options, {
      root,
      runId,
      cgroupParent,
      logDir,
      rulesBefore,
      log,
      killedCreates,
    });
    report.wallSeconds = Math.round((performance.now() - wall0) / 1000);
    return report;
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    if (rt !== undefined) {
      if (failed) await keepLogs(`chaos-${options.stack}`, rt);
      // After a failure half-way, whatever was started goes through the runtime too; then
      // what it lost track of through the daemon, and what is still left by hand.
      await removePodsQuietly(rt.client);
      await removeOrphans(rt.layout);
      const shims = rt.shimPids();
      const runcDirs = await runcStateLeaks(rt.layout, killedCreates);
      await rt.stop();
      await killStragglers([...new Set([...shims, ...rt.shimPids()])], rt.layout, runcDirs);
    }
    // A cgroup goes once its last process has: a few tries, a moment apart.
    for (let i = 0; i < 10 && cgroupsUnder(cgroupParent, "", { unified: true }).length > 0; i++) {
      removeCgroupParent(cgroupParent);
      await sleep(300);
    }
    await removeDir(logDir);
  }
}

interface RunContext {
  root: SeededRandom;
  runId: string;
  cgroupParent: string;
  logDir: string;
  rulesBefore: string[];
  log: (line: string) => void;
  /** Containers whose `runc create` a fault killed, filled in as the faults go. */
  killedCreates: string[];
}

async function drive(
  rt: CriRuntime,
  env: ChaosEnvironment,
  options: ChaosOptions,
  ctx: RunContext,
): Promise<ChaosReport> {
  const { client } = rt;
  const pods: ChaosPod[] = [];
  const faultLog: FaultRecord[] = [];
  const execCount = { ok: 0, failed: 0 };
  const periods = ctx.root.fork("periods");
  let t0 = performance.now();
  const now = () => (performance.now() - t0) / 1000;
  let lastFault = "none";
  /** Containers whose shim a fault killed. */
  const shimKilled = new Set<string>();
  const createErrors: Record<string, number> = {};

  const podConfig = (name: string): PodSandboxConfig => ({
    ...benchPodConfig(name, ctx.logDir, { "chaos-run": ctx.runId, "chaos-pod": name }),
    linux: LinuxPodSandboxConfig.fromPartial({ cgroupParent: `/${ctx.cgroupParent}` }),
  });
  const healthy = () => pods.filter((p) => p.phase === "running" && p.lostSeen === undefined);

  /** Removes what a failed creation left of pod `name` (found by its label), quietly. */
  const removeByName = async (name: string) => {
    const listed = await client.runtime
      .listPodSandbox({ filter: { labelSelector: { "chaos-pod": name } } }, call())
      .catch(() => ({ items: [] }));
    for (const p of listed.items) {
      await client.runtime.stopPodSandbox({ podSandboxId: p.id }, call()).catch(() => undefined);
      await client.runtime.removePodSandbox({ podSandboxId: p.id }, call()).catch(() => undefined);
    }
  };

  const createPod = async () => {
    const name = `chaos-${pods.length}`;
    const pod: ChaosPod = { name, phase: "starting", logPath: join(ctx.logDir, name, "logger", "0.log") };
    pods.push(pod);
    const config = podConfig(name);
    try {
      const ids = await startOneContainerPod(
        client,
        env.images.app,
        config,
        { name: "logger", command: loggerCommand(name, periods.int(50, 100)) },
        AbortSignal.timeout(CALL_MS),
      );
      pod.podSandboxId = ids.podSandboxId;
      pod.containerId = ids.containerId;
      const st = await client.runtime.containerStatus({ containerId: ids.containerId }, call());
      pod.startedAt = st.status?.startedAt;
      pod.phase = "running";
    } catch (err) {
      pod.phase = "failed";
      const what = (err instanceof Error ? err.message : String(err))
        .split("\n")[0]
        ?.replace(/[0-9a-f]{64}/g, "<id>")
        .replace(/chaos-\d+/g, "<pod>")
        .slice(0, 160);
      createErrors[what ?? ""] = (createErrors[what ?? ""] ?? 0) + 1;
      await removeByName(name);
    }
  };

  const removePod = async (pod: ChaosPod) => {
    pod.phase = "removing";
    try {
      await client.runtime.stopPodSandbox({ podSandboxId: pod.podSandboxId }, call());
      await client.runtime.removePodSandbox({ podSandboxId: pod.podSandboxId }, call());
      pod.phase = "removed";
    } catch {
      // Left for the final clean-up; it no longer counts as a pod that should run.
    }
  };

  // The first N pods, 8 at a time, before any fault.
  ctx.log(`chaos ${options.stack}: starting ${options.pods} pods`);
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (pods.length < options.pods && options.signal?.aborted !== true) await createPod();
    }),
  );
  options.signal?.throwIfAborted();
  ctx.log(`chaos ${options.stack}: ${healthy().length} pods running; faults for ${options.seconds} s`);

  let stopping = false;
  t0 = performance.now();
  const faultsEnd = options.seconds;

  const churn = async () => {
    const random = ctx.root.fork("churn");
    // Every third step removes a pod whatever the count, so that removals go on while
    // failing creations keep the count below N.
    for (let step = 0; !stopping; step++) {
      await sleep(random.int(300, 900));
      if (stopping) break;
      const live = healthy();
      if (live.length > 0 && (live.length >= options.pods || step % 3 === 2))
        await removePod(random.pick(live));
      else await createPod();
    }
  };

  const execs = async () => {
    const random = ctx.root.fork("exec");
    while (!stopping) {
      await sleep(random.int(200, 800));
      const live = healthy();
      if (live.length === 0) continue;
      const pod = random.pick(live);
      try {
        const r = await client.runtime.execSync(
          { containerId: pod.containerId, cmd: ["sh", "-c", "echo exec-ok"], timeout: 5n },
          { signal: AbortSignal.timeout(10_000) },
        );
        if (r.exitCode === 0 && r.stdout.toString().startsWith("exec-ok")) execCount.ok++;
        else execCount.failed++;
      } catch {
        execCount.failed++;
      }
    }
  };

  /** Notes when a container that should run is first seen otherwise, and the fault before it. */
  const observe = async () => {
    const listed = await client.runtime.listContainers({}, { signal: AbortSignal.timeout(5_000) });
    const state = new Map(listed.containers.map((c) => [c.id, c.state]));
    const at = now();
    for (const p of pods) {
      if (p.phase !== "running" || p.lostSeen !== undefined || p.containerId === undefined) continue;
      if (state.get(p.containerId) !== ContainerState.CONTAINER_RUNNING)
        p.lostSeen = { at, fault: lastFault };
    }
  };
  const monitor = async () => {
    while (!stopping) {
      await sleep(2_000);
      await observe().catch(() => undefined);
    }
  };

  const faults = async () => {
    const random = ctx.root.fork("faults");
    const [gapMin, gapMax] = options.faultGapMs ?? [3_000, 8_000];
    const table = FAULTS[options.stack];
    for (;;) {
      await sleep(random.int(gapMin, gapMax));
      options.signal?.throwIfAborted();
      if (now() >= faultsEnd) break;
      const fault = random.pick(table);
      const at = Math.round(now() * 10) / 10;
      lastFault = fault.kind;
      const t = performance.now();
      const target = await fault.inject(rt, random.fork(`${faultLog.length}`));
      for (const id of target?.served ?? []) shimKilled.add(id);
      if (target?.containerId !== undefined) ctx.killedCreates.push(target.containerId);
      faultLog.push({
        at,
        kind: fault.kind,
        target: target?.what ?? "skipped: nothing to kill",
        seconds: Math.round((performance.now() - t) / 100) / 10,
        ...(target?.containerId === undefined ? {} : { containerId: target.containerId }),
      });
      const took = faultLog[faultLog.length - 1]?.seconds ?? 0;
      ctx.log(
        `  ${at.toFixed(1).padStart(6)} s  ${fault.kind.padEnd(11)} ${target?.what ?? "skipped"} (${took} s)`,
      );
    }
  };

  const workers = [churn(), execs(), monitor()];
  try {
    await faults();
  } finally {
    stopping = true;
    await Promise.allSettled(workers);
  }

  // Settle: the stack answers, and two observations a second apart agree.
  ctx.log(`chaos ${options.stack}: faults over; settling`);
  const settleMs = (options.settleSeconds ?? 30) * 1000;
  const settleEnd = Date.now() + settleMs;
  let previous = "";
  await waitFor(
    async () => {
      const listed = await client.runtime.listContainers({}, { signal: AbortSignal.timeout(5_000) });
      const seen = listed.containers
        .map((c) => `${c.id}:${c.state}`)
        .sort()
        .join(",");
      const same = seen === previous;
      previous = seen;
      return same;
    },
    { what: `${rt.name} to settle after the faults`, timeoutMs: settleMs, intervalMs: 1_000 },
  ).catch(() => ctx.log(`chaos ${options.stack}: not settled after ${settleMs / 1000} s; counting anyway`));
  options.signal?.throwIfAborted();
  await observe().catch(() => undefined);
  if (Date.now() < settleEnd) await sleep(Math.min(2_000, settleEnd - Date.now()));

  // What should run, and whether it does.
  const shouldRun = pods.filter((p) => p.phase === "running");
  const listedPods = await client.runtime.listPodSandbox(
    { filter: { labelSelector: { "chaos-run": ctx.runId } } },
    call(),
  );
  const podState = new Map(listedPods.items.map((p) => [p.id, p.state]));
  const expectedIds = new Set(shouldRun.map((p) => p.podSandboxId));
  const lostByFault: Record<string, number> = {};
  let running = 0;
  let missing = 0;
  let notReady = 0;
  const logs = { containers: 0, lines: 0, lost: 0, duplicated: 0, malformed: 0, withGaps: 0 };
  for (const p of shouldRun) {
    const ps = podState.get(p.podSandboxId ?? "");
    if (ps === undefined) missing++;
    else if (ps !== PodSandboxState.SANDBOX_READY) notReady++;
    const st = await client.runtime
      .containerStatus({ containerId: p.containerId }, call())
      .then((r) => r.status)
      .catch(() => undefined);
    const alive = st?.state === ContainerState.CONTAINER_RUNNING && st.startedAt === p.startedAt;
    if (!alive) {
      const fault = shimKilled.has(p.containerId ?? "") ? "shim" : (p.lostSeen?.fault ?? lastFault);
      lostByFault[fault] = (lostByFault[fault] ?? 0) + 1;
      continue;
    }
    running++;
    const count = await countLogFile(p.logPath, p.name);
    if (count === undefined) continue;
    logs.containers++;
    logs.lines += count.lines;
    logs.lost += count.lost;
    logs.duplicated += count.duplicated;
    logs.malformed += count.malformed;
    if (count.lost > 0) logs.withGaps++;
  }
  // Pods whose removal failed are known leftovers; stray ones are what failed creations left.
  const removing = new Set(pods.filter((p) => p.phase === "removing").map((p) => p.podSandboxId));
  const stray = listedPods.items.filter((p) => !expectedIds.has(p.id) && !removing.has(p.id)).length;

  ctx.log(`chaos ${options.stack}: checking blobs`);
  const blobs = await checkBlobs(rt.layout);

  // Every pod goes; then what is left behind, once the stack has had a moment to tidy up.
  ctx.log(`chaos ${options.stack}: removing every pod`);
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      await removeAllPods(client);
      break;
    } catch (err) {
      if (attempt === 3) ctx.log(`chaos ${options.stack}: removing pods: ${(err as Error).message}`);
      await sleep(2_000);
    }
  }
  let left: Awaited<ReturnType<typeof findLeaks>> | undefined;
  const leakCheck = () =>
    findLeaks(rt.layout, () => rt.shimPids(), {
      cgroupParent: ctx.cgroupParent,
      network: env.network,
      rulesBefore: ctx.rulesBefore,
      killedCreates: ctx.killedCreates,
    });
  await waitFor(
    async () => {
      left = await leakCheck();
      return Object.values(left.leaks).every((l) => l.length === 0);
    },
    { what: "no leaks", timeoutMs: 15_000, intervalMs: 1_000 },
  ).catch(() => undefined);
  const { leaks: found, expiringLeases } = left ?? (await leakCheck());

  const injected = faultLog.filter((f) => !f.target.startsWith("skipped"));
  const skipped = faultLog.filter((f) => f.target.startsWith("skipped"));
  const lost = shouldRun.length - running;
  return {
    stack: options.stack,
    runtime: rt.name,
    seed: options.seed,
    date: new Date().toISOString(),
    targetPods: options.pods,
    faultSeconds: options.seconds,
    wallSeconds: 0,
    faults: {
      injected: countBy(injected.map((f) => f.kind)),
      skipped: countBy(skipped.map((f) => f.kind)),
      log: faultLog,
    },
    pods: {
      created: pods.filter((p) => p.phase !== "failed").length,
      createFailed: pods.filter((p) => p.phase === "failed").length,
      createErrors,
      removed: pods.filter((p) => p.phase === "removed").length,
      removeFailed: pods.filter((p) => p.phase === "removing").length,
      shouldRun: shouldRun.length,
      missing,
      notReady,
      stray,
    },
    containers: { shouldRun: shouldRun.length, running, lost, lostByFault },
    exec: execCount,
    logs,
    blobs: { checked: blobs.blobs, corrupt: blobs.corrupt.length, corruptDigests: blobs.corrupt },
    leaks: Object.fromEntries(Object.entries(found).map(([k, v]) => [k, v.length])) as Record<
      keyof Leaks,
      number
    >,
    expiringLeases,
    leakSamples: Object.fromEntries(
      Object.entries(found)
        .filter(([, v]) => v.length > 0)
        .map(([k, v]) => [k, v.slice(0, 5).map(String)]),
    ),
  };
}
