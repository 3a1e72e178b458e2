// berth-cri as the tests run it: its built main.js in a child process, with a private
// root, state and socket, pointed at a daemon under test.
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DAEMON_NODE_FLAGS, repoRoot } from "../daemons.js";
import { type ManagedProcess, spawnManaged } from "../fixtures/process.js";
import { freePort, removeDir, tempDir, waitFor } from "../fixtures/tmp.js";
import { criClient } from "./client.js";

export const berthCriMain = join(repoRoot, "packages/cri/dist/main.js");

export interface BerthCriOptions {
  containerdAddress: string;
  runtime: string;
  cniConfDir: string;
  cniBinDir?: string;
  sandboxImage: string;
  plainHttp?: string[];
  mirrors?: Record<string, string[]>;
  /** More config keys (`shim`, `logLevel`…), set over the ones above. */
  config?: Record<string, unknown>;
}

export interface BerthCriUnderTest {
  address: string;
  root: string;
  state: string;
  logFile: string;
  /** host:port of its Prometheus endpoint. */
  metricsAddress: string;
  readonly pid: number;
  /** SIGTERM and wait; the daemon's containers keep running. */
  stop(): Promise<void>;
  /** Start again on the same root and state. */
  start(): Promise<void>;
  /** Stops it and removes its root, state and log. */
  remove(): Promise<void>;
  log(): Promise<string>;
}

export async function startBerthCri(options: BerthCriOptions): Promise<BerthCriUnderTest> {
  if (!existsSync(berthCriMain)) {
    throw new Error(`${berthCriMain} is missing: build berth-cri first (npx tsc -b packages/cri)`);
  }
  const dir = await tempDir("berth-cri-");
  const root = join(dir, "root");
  const state = join(dir, "state");
  const address = join(dir, "cri.sock");
  const logFile = join(dir, "berth-cri.log");
  const configFile = join(dir, "cri.yaml");
  let metricsAddress = `127.0.0.1:${await freePort()}`;
  const config = {
    root,
    state,
    address,
    containerd: { address: options.containerdAddress, namespace: "k8s.io", runtime: options.runtime },
    cni: { binDir: options.cniBinDir ?? "/usr/lib/cni", confDir: options.cniConfDir },
    sandboxImage: options.sandboxImage,
    registry: { mirrors: options.mirrors ?? {}, plainHttp: options.plainHttp ?? [] },
    metrics: { address: metricsAddress },
    logLevel: "debug",
    ...options.config,
  };
  // JSON is YAML.
  await writeFile(configFile, JSON.stringify(config, null, 2));
  let proc: ManagedProcess | undefined;
  /**
   * Starts berth-cri on its config file. The metrics port was free when it was picked; by
   * a restart another process's outgoing connection may hold it (it is an ephemeral port):
   * then the file gets another free port and the start is tried again, a few times at most.
   */
  const start = async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await startOnce();
      } catch (err) {
        const taken = `EADDRINUSE: address already in use ${metricsAddress}`;
        if (attempt >= 3 || !proc?.exited || !(err as Error).message.includes(taken)) throw err;
        const file = JSON.parse(await readFile(configFile, "utf8")) as { metrics?: { address?: string } };
        if (file.metrics?.address !== metricsAddress) throw err;
        metricsAddress = `127.0.0.1:${await freePort()}`;
        await writeFile(
          configFile,
          JSON.stringify({ ...file, metrics: { address: metricsAddress } }, null, 2),
        );
      }
    }
  };
  const startOnce = async () => {
    proc = await spawnManaged(
      process.execPath,
      [...DAEMON_NODE_FLAGS, berthCriMain, "--config", configFile],
      {
        logFile,
      },
    );
    const client = criClient(address);
    try {
      let exited = false;
      await waitFor(
        async () => {
          // A daemon that exited will not come up: stop waiting, and say why below.
          if (proc?.exited) {
            exited = true;
            return true;
          }
          return (await client.runtime.version({}, { signal: AbortSignal.timeout(2_000) })).runtimeName;
        },
        { what: `berth-cri serving on ${address} (log ${logFile})`, timeoutMs: 60_000, intervalMs: 100 },
      );
      if (exited) throw new Error(`berth-cri exited (${proc?.exitDescription()})`);
    } catch (err) {
      const log = await readFile(logFile, "utf8").catch(() => "");
      throw new Error(`${(err as Error).message}\n--- berth-cri log ---\n${log.slice(-4000)}`);
    } finally {
      client.close();
    }
  };
  await start();
  return {
    address,
    root,
    state,
    logFile,
    get metricsAddress() {
      return metricsAddress;
    },
    get pid() {
      return proc?.pid ?? -1;
    },
    stop: async () => {
      await proc?.stop(15_000);
    },
    start,
    remove: async () => {
      await proc?.stop(15_000);
      await removeDir(dir);
    },
    log: () => readFile(logFile, "utf8"),
  };
}
