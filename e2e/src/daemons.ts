// The daemons under test, behind one shape so each compatibility test runs the same
// steps against berthd and against Debian's containerd 1.6.
import { existsSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startContainerd } from "./fixtures/containerd.js";
import { ctr } from "./fixtures/ctr.js";
import { unmountUnder } from "./fixtures/mounts.js";
import { type ManagedProcess, spawnManaged } from "./fixtures/process.js";
import { tempDir, waitFor } from "./fixtures/tmp.js";
import { removeDir } from "./fixtures/tmp.js";

/**
 * Node flags the daemons run with, as deploy/install.sh's wrappers give them, plus any in
 * BERTH_DAEMON_NODE_FLAGS (space-separated; e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to
 * profile berthd and berth-cri under a benchmark: profiles are written when they stop).
 */
export const DAEMON_NODE_FLAGS = [
  "--max-semi-space-size=4",
  ...(process.env.BERTH_DAEMON_NODE_FLAGS ?? "").split(" ").filter((f) => f !== ""),
];

export interface DaemonUnderTest {
  kind: "berthd" | "containerd";
  /** gRPC socket path. */
  address: string;
  root: string;
  state: string;
  logFile: string;
  /** The daemon's process id (for memory and CPU measurements). */
  readonly pid: number;
  /** SIGKILL the daemon (not its children), for crash tests. */
  kill(): Promise<void>;
  /** Start again on the same root/state after kill(). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
export const berthdMain = join(repoRoot, "packages/core/dist/main.js");

export const shimMain = join(repoRoot, "packages/shim/dist/main.js");
let shimDir: string | undefined;

/** A directory holding `containerd-shim-berth-v2` for this checkout, for a daemon's PATH. */
export async function shimBinDir(): Promise<string> {
  if (shimDir) return shimDir;
  const dir = await tempDir("shim-bin-");
  const wrapper = join(dir, "containerd-shim-berth-v2");
  await writeFile(wrapper, `#!/bin/sh\nexec ${process.execPath} ${shimMain} "$@"\n`, { mode: 0o755 });
  shimDir = dir;
  return dir;
}

async function waitForCtr(address: string, what: string): Promise<void> {
  await waitFor(async () => (await ctr(address, ["version"], { timeoutMs: 5000 })).exitCode === 0, {
    timeoutMs: 30_000,
    intervalMs: 100,
    what,
  });
}

export async function startBerthdDaemon(options: { metricsAddress?: string } = {}): Promise<DaemonUnderTest> {
  const dir = await tempDir("berthd-");
  const root = join(dir, "root");
  const state = join(dir, "state");
  const address = join(dir, "berthd.sock");
  const configFile = join(dir, "berthd.yaml");
  const logFile = join(dir, "berthd.log");
  await writeFile(
    configFile,
    `root: ${root}\nstate: ${state}\ngrpc:\n  address: ${address}\nlogLevel: debug\n` +
      (options.metricsAddress ? `metrics:\n  address: ${options.metricsAddress}\n` : ""),
  );
  const env = { ...process.env, PATH: `${await shimBinDir()}:${process.env.PATH ?? "/usr/bin:/bin"}` };
  let proc: ManagedProcess;
  const launch = async () => {
    proc = await spawnManaged(process.execPath, [...DAEMON_NODE_FLAGS, berthdMain, "--config", configFile], {
      logFile,
      env,
    });
    await waitForCtr(address, `berthd serving on ${address} (log ${logFile})`);
  };
  await launch();
  return {
    kind: "berthd",
    address,
    root,
    state,
    logFile,
    get pid() {
      return proc.pid;
    },
    async kill() {
      process.kill(proc.pid, "SIGKILL");
      await proc.waitExit(10_000);
    },
    restart: launch,
    async stop() {
      await proc.stop();
      await unmountUnder(dir);
      await removeDir(dir);
    },
  };
}

export async function startContainerdDaemon(): Promise<DaemonUnderTest> {
  let c = await startContainerd();
  // A restarted instance keeps the first one's root, state and sockets: its dir goes on stop().
  const firstDir = dirname(c.root);
  let restarted = false;
  return {
    kind: "containerd",
    // Each restart is a new instance (same root, state and sockets): read the current one.
    get address() {
      return c.address;
    },
    get root() {
      return c.root;
    },
    get state() {
      return c.state;
    },
    get pid() {
      return c.pid;
    },
    get logFile() {
      return c.logFile;
    },
    async kill() {
      process.kill(c.pid, "SIGKILL");
      await waitFor(
        () =>
          !existsSync(`/proc/${c.pid}/status`) ||
          readFileSync(`/proc/${c.pid}/status`, "utf8").includes("State:\tZ"),
        {
          timeoutMs: 10_000,
          what: `containerd ${c.pid} to exit`,
        },
      );
    },
    async restart() {
      c = await startContainerd({ root: c.root, state: c.state, socketDir: dirname(c.address) });
      restarted = true;
    },
    async stop() {
      await c.stop();
      if (restarted) {
        await unmountUnder(firstDir);
        await removeDir(firstDir);
      }
    },
  };
}

const allDaemons = [
  { kind: "berthd", start: () => startBerthdDaemon() },
  { kind: "containerd", start: startContainerdDaemon },
] as const;

/** The daemons compatibility tests run against; BERTH_E2E_DAEMONS=berthd (or containerd) narrows it. */
export const daemonKinds = allDaemons.filter((d) =>
  (process.env.BERTH_E2E_DAEMONS ?? "berthd,containerd").split(",").includes(d.kind),
);
