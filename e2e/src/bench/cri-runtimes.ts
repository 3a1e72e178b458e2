// The two CRI stacks the CRI benchmarks compare, started the same way for each of them:
// berth-cri on berthd (Berth's shim), and Debian's containerd 1.6 with its built-in CRI
// plugin (runc's shim), each on daemons of its own at BENCH_LOG_LEVEL, on a test CNI
// network, with images from a local registry. Also kubelet's call sequence for a pod of
// one `sleep` container, and the clean-up after a run.
import { existsSync } from "node:fs";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { PodSandboxConfig } from "@berth/api/cri/runtime/v1/api";
import { type BerthCriUnderTest, startBerthCri } from "../cri/berth-cri.js";
import { type CriClient, criClient } from "../cri/client.js";
import type { TestNetwork } from "../cri/network.js";
import { pushPauseImage } from "../cri/pause-image.js";
import { type DaemonUnderTest, repoRoot, startBerthdDaemon } from "../daemons.js";
import { CONTAINERD_BINARY, type Containerd, startContainerd } from "../fixtures/containerd.js";
import { buildSimpleImage } from "../fixtures/images.js";
import { argvOf } from "../fixtures/proc.js";
import { type ManagedProcess, spawnManaged } from "../fixtures/process.js";
import { removeDir, tempDir, waitFor } from "../fixtures/tmp.js";
import { shimPids } from "./measure.js";

/** Daemons log at warn, as the containerd fixture does, so that logging costs the same. */
export const BENCH_LOG_LEVEL = "warn";

export const resultsDir = join(repoRoot, "bench-results");

export interface CriRuntime {
  name: string;
  /** The CRI socket's path. */
  address: string;
  client: CriClient;
  /** The daemons, by name: berthd and berth-cri, or containerd. */
  daemons(): Array<{ name: string; pid: number }>;
  shimPids(): number[];
  /** The daemons' log files, kept when a run fails. */
  logFiles(): string[];
  /** Kills one of daemons() by name (SIGKILL) and starts it again on the same state; its containers run on. */
  restart(daemon: string): Promise<void>;
  /** Where the stack keeps what it makes, for checks of what a run left behind. */
  layout: RuntimeLayout;
  stop(): Promise<void>;
}

export interface RuntimeLayout {
  /** The containerd API socket (berthd's or containerd's), for ctr. */
  apiAddress: string;
  /** The daemon's state: task bundles are under `<state>/io.containerd.runtime.v2.task/<ns>/<id>`. */
  daemonState: string;
  /** The daemons' roots and states: the stack's mounts and pinned netns are below them. */
  dirs: string[];
  /**
   * runc's --root of the k8s.io namespace. Berth's shim uses the node's /run/berth/runc,
   * shared with every berthd on the node: tell ours by their bundle (under daemonState).
   */
  runcRoot: string;
}

export interface BenchImages {
  /** busybox (the fixtures' static build). */
  app: string;
  pause: string;
}

/** Builds and pushes the app image (`berth/<name>:v1`) and a pause image beside it. */
export async function pushBenchImages(registryHost: string, name: string): Promise<BenchImages> {
  const app = await buildSimpleImage(registryHost, `berth/${name}`, "v1");
  return { app: app.ref, pause: await pushPauseImage(app) };
}

export async function pullBenchImages(client: CriClient, images: BenchImages): Promise<void> {
  for (const image of [images.pause, images.app])
    await client.images.pullImage({ image: { image, annotations: {} } });
}

export function benchPodConfig(
  name: string,
  logDir: string,
  labels: Record<string, string>,
): PodSandboxConfig {
  return {
    metadata: { name, namespace: "bench", uid: `bench-uid-${name}`, attempt: 0 },
    hostname: name,
    logDirectory: join(logDir, name),
    dnsConfig: undefined,
    portMappings: [],
    labels,
    annotations: {},
    linux: undefined,
    windows: undefined,
  };
}

/** kubelet's sequence for a pod of one `sleep` container. */
export function startSleepPod(
  client: CriClient,
  images: BenchImages,
  config: PodSandboxConfig,
): Promise<{ podSandboxId: string; containerId: string }> {
  return startOneContainerPod(client, images.app, config, { name: "sleep", command: ["sleep", "100000"] });
}

/**
 * kubelet's sequence for a pod of one container of `image`: RunPodSandbox, CreateContainer
 * (its log at `<pod log dir>/<name>/0.log`), StartContainer. `signal` bounds each call.
 */
export async function startOneContainerPod(
  client: CriClient,
  image: string,
  config: PodSandboxConfig,
  container: { name: string; command: string[] },
  signal?: AbortSignal,
): Promise<{ podSandboxId: string; containerId: string }> {
  const { podSandboxId } = await client.runtime.runPodSandbox({ config, runtimeHandler: "" }, { signal });
  const { containerId } = await client.runtime.createContainer(
    {
      podSandboxId,
      config: {
        metadata: { name: container.name, attempt: 0 },
        image: { image, annotations: {} },
        command: container.command,
        args: [],
        workingDir: "",
        envs: [],
        mounts: [],
        devices: [],
        labels: {},
        annotations: {},
        logPath: `${container.name}/0.log`,
        stdin: false,
        stdinOnce: false,
        tty: false,
        linux: undefined,
        windows: undefined,
      },
      sandboxConfig: config,
    },
    { signal },
  );
  await client.runtime.startContainer({ containerId }, { signal });
  return { podSandboxId, containerId };
}

export async function removeAllPods(client: CriClient): Promise<void> {
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

/** The command-line value after `flag` of a running process. */
async function argOf(pid: number, flag: string): Promise<string> {
  const argv = await argvOf(pid);
  const value = argv[argv.indexOf(flag) + 1];
  if (argv.indexOf(flag) < 0 || value === undefined) throw new Error(`no ${flag} in ${argv.join(" ")}`);
  return value;
}

/** berthd at BENCH_LOG_LEVEL: the fixture starts it at debug; it is restarted before any container exists. */
async function quietBerthd(berthd: DaemonUnderTest): Promise<void> {
  const file = await argOf(berthd.pid, "--config");
  const config = await readFile(file, "utf8");
  await writeFile(file, config.replace(/^logLevel: .*$/m, `logLevel: ${BENCH_LOG_LEVEL}`));
  await berthd.kill();
  await berthd.restart();
}

export interface BerthRuntimeOptions {
  name: string;
  network: TestNetwork;
  images: BenchImages;
  registryHost: string;
  /** berth-cri's `shim` config (policy, poolSize); its defaults otherwise. */
  shim?: { policy: string; poolSize: number };
  /** Registry hosts whose pulls go to the local registry instead (berth-cri's `registry.mirrors`). */
  mirroredHosts?: string[];
}

/** berth-cri on berthd, with Berth's shim. */
export async function startBerthRuntime(options: BerthRuntimeOptions): Promise<CriRuntime> {
  const berthd = await startBerthdDaemon();
  let cri: BerthCriUnderTest | undefined;
  try {
    await quietBerthd(berthd);
    cri = await startBerthCri({
      containerdAddress: berthd.address,
      runtime: "io.containerd.berth.v2",
      cniConfDir: options.network.confDir,
      sandboxImage: options.images.pause,
      plainHttp: [options.registryHost],
      mirrors: Object.fromEntries(
        (options.mirroredHosts ?? []).map((h) => [h, [`http://${options.registryHost}`]]),
      ),
      config: { logLevel: BENCH_LOG_LEVEL, ...(options.shim ? { shim: options.shim } : {}) },
    });
  } catch (err) {
    await cri?.remove();
    await berthd.stop();
    throw err;
  }
  const client = criClient(cri.address);
  const criDaemon = cri;
  return {
    name: options.name,
    address: criDaemon.address,
    client,
    daemons: () => [
      { name: "berthd", pid: berthd.pid },
      { name: "berth-cri", pid: criDaemon.pid },
    ],
    shimPids: () => shimPids(berthd.address),
    logFiles: () => [berthd.logFile, criDaemon.logFile],
    layout: {
      apiAddress: berthd.address,
      daemonState: berthd.state,
      dirs: [berthd.root, berthd.state, criDaemon.root, criDaemon.state],
      runcRoot: "/run/berth/runc/k8s.io",
    },
    async restart(daemon) {
      if (daemon === "berthd") {
        await berthd.kill();
        await berthd.restart();
      } else if (daemon === "berth-cri") {
        process.kill(criDaemon.pid, "SIGKILL");
        await criDaemon.stop();
        await criDaemon.start();
      } else throw new Error(`no daemon ${daemon} in ${options.name}`);
    },
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
 * CAP_SYS_RESOURCE (berth-cri clamps to its own score there already). The fixture's CRI
 * config puts the streaming server on 127.0.0.1, on a free port, without TLS
 * (`enable_tls_streaming` is false by default), as berth-cri's is. Pulls from
 * `mirroredHosts` go to the local registry too: their hosts.toml names it as the server, so
 * containerd has no upstream to fall back to. Pods' network namespaces are pinned under
 * its private state (`netns_mounts_under_state_dir`), as berth-cri's are, not in the
 * node's /run/netns.
 */
export async function startContainerdRuntime(
  network: TestNetwork,
  images: BenchImages,
  registryHost: string,
  mirroredHosts: string[] = [],
): Promise<CriRuntime> {
  // containerd reaches the plain-HTTP registry through a hosts.toml of its own.
  const hostsDir = await tempDir("bench-cri-hosts-");
  for (const host of [registryHost, ...mirroredHosts]) {
    await mkdir(join(hostsDir, host));
    await writeFile(
      join(hostsDir, host, "hosts.toml"),
      `server = "http://${registryHost}"\n\n[host."http://${registryHost}"]\n  capabilities = ["pull", "resolve"]\n`,
    );
  }
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
    await writeFile(
      c.configFile,
      config.replace(
        header,
        "$&$1  restrict_oom_score_adj = true\n$1  netns_mounts_under_state_dir = true\n",
      ),
    );
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
  let daemon = proc;
  const fixture = c;
  const client = criClient(fixture.address);
  return {
    name: "containerd 1.6",
    address: fixture.address,
    client,
    daemons: () => [{ name: "containerd", pid: daemon.pid }],
    shimPids: () => shimPids(fixture.address),
    logFiles: () => [fixture.logFile],
    layout: {
      apiAddress: fixture.address,
      daemonState: fixture.state,
      dirs: [fixture.root, fixture.state],
      runcRoot: join(fixture.runcRoot, "k8s.io"),
    },
    async restart(name) {
      if (name !== "containerd") throw new Error(`no daemon ${name} in containerd 1.6`);
      process.kill(daemon.pid, "SIGKILL");
      await daemon.waitExit(10_000);
      daemon = await spawnManaged(CONTAINERD_BINARY, ["--config", fixture.configFile], {
        logFile: fixture.logFile,
        cwd: dirname(fixture.configFile),
      });
      await waitFor(
        async () => (await client.runtime.version({}, { signal: AbortSignal.timeout(2_000) })).version,
        {
          what: `containerd's CRI on ${fixture.address} after a restart (log ${fixture.logFile})`,
          timeoutMs: 30_000,
          intervalMs: 200,
        },
      );
    },
    async stop() {
      client.close();
      await daemon.stop(10_000);
      // The fixture's cleanup: shims left, mounts, its directories.
      await fixture.stop();
      await removeDir(hostsDir);
    },
  };
}

/** Copies a failed run's daemon logs to bench-results/<bench>-<runtime>-<file> before its directories go. */
export async function keepLogs(bench: string, rt: CriRuntime): Promise<void> {
  await mkdir(resultsDir, { recursive: true });
  for (const file of rt.logFiles()) {
    const to = join(resultsDir, `${bench}-${rt.name.replace(/[^a-z0-9.]+/gi, "-")}-${basename(file)}`);
    await copyFile(file, to).then(
      () => process.stderr.write(`kept ${to}\n`),
      () => undefined,
    );
  }
}
