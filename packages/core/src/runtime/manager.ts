// The runtime manager: one bundle per task under the state dir, shims launched by
// runtime name and shared by address, reconnected on restart, cleaned up when they die.
import { constants, closeSync, existsSync, openSync } from "node:fs";
import { mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { TaskDelete, TaskExit } from "@berth/api/containerd/events/task";
import {
  type DeleteResponse,
  type StateResponse,
  TaskDefinition,
} from "@berth/api/containerd/runtime/v2/task/shim";
import type { Mount as WireMount } from "@berth/api/containerd/types/mount";
import { Any } from "@berth/api/google/protobuf/any";
import { alreadyExists, invalidArgument, notFound } from "@berth/client/errdefs";
import { eachLimited } from "@berth/client/limiter";
import type { Logger } from "@berth/client/log";
import { groupKey, socketAddress, socketPath } from "@berth/shim/address";
import { TtrpcClient, type TtrpcServiceClient, createTtrpcClient, namespaceMetadata } from "@berth/ttrpc";
import type { EventPublisher } from "../events/publisher.js";
import type { ContainerRecord } from "../metadata/containers.js";
import { unmountAll } from "../mount/mount-all.js";
import { MNT_DETACH } from "../sys/mount.js";
import {
  deleteShim,
  findShimBinary,
  launchBerthShim,
  openShimLog,
  shimBinaryName,
  startShim,
} from "./shim-binary.js";

type TaskClient = TtrpcServiceClient<typeof TaskDefinition>;

interface ShimConnection {
  address: string;
  client: TtrpcClient;
  tasks: Set<string>;
  closing: boolean;
  closeLog?: () => void;
}

export interface TaskEntry {
  namespace: string;
  id: string;
  bundle: string;
  runtime: string;
  binary: string;
  pid: number;
  shim: ShimConnection;
  /** Typed client for this task's namespace. */
  api: TaskClient;
  /** Our read ends of the output FIFOs of Berth's shim (holdOutput). */
  held: number[];
}

export interface RuntimeConfig {
  state: string;
  grpcAddress: string;
  ttrpcAddress: string;
  publishBinary: string;
  /** Extra directories searched for shim binaries before PATH. */
  shimDirs?: string[];
}

interface BundleRecord {
  runtime: string;
  binary: string;
  /** The task's runtime options (protobuf Any, base64): a relaunched shim gets them again. */
  options?: string;
}

export interface CreateOptions {
  rootfs: WireMount[];
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
  options: Any | undefined;
}

/** Berth's own shim, whose group addressing the daemon knows (see runningGroupShim). */
const BERTH_SHIM_BINARY = shimBinaryName("io.containerd.berth.v2");

const key = (ns: string, id: string) => `${ns}/${id}`;
/** `<shim> delete` runs after a lost shim this many at a time (each is a process start). */
const CLEANUP_CONCURRENCY = 8;
/** Tasks reconnected (or cleaned up) at once when berthd starts. */
const RESTORE_CONCURRENCY = 16;
/** The output FIFOs of a container started by Berth's shim (its stdio.ts), in the bundle. */
const OUTPUT_FIFOS = ["io/stdout", "io/stderr"];

/**
 * Opens the container's output FIFOs for reading, never to read: while any process holds
 * a FIFO open, what the container wrote and no shim has read yet stays in the pipe, even
 * if the container exits while its shim is dead; the shim that adopts it reads it then.
 */
function holdOutput(bundle: string): number[] {
  const fds: number[] = [];
  for (const name of OUTPUT_FIFOS) {
    try {
      fds.push(openSync(join(bundle, name), constants.O_RDONLY | constants.O_NONBLOCK));
    } catch {
      // not a container of Berth's shim, or no such stream
    }
  }
  return fds;
}

function release(fds: number[]): void {
  for (const fd of fds.splice(0)) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
}

export class RuntimeManager {
  private readonly tasks = new Map<string, TaskEntry>();
  private readonly shims = new Map<string, ShimConnection>();
  private readonly connecting = new Map<string, Promise<ShimConnection>>();
  private readonly creating = new Set<string>();
  /** Berth's shims being started again after one died, by address (relaunch). */
  private readonly relaunching = new Map<string, Promise<ShimConnection>>();
  private closed = false;

  constructor(
    private readonly cfg: RuntimeConfig,
    private readonly events: EventPublisher,
    private readonly log: Logger,
  ) {}

  private get root(): string {
    return join(this.cfg.state, "io.containerd.runtime.v2.task");
  }

  bundleDir(ns: string, id: string): string {
    return join(this.root, ns, id);
  }

  get(ns: string, id: string): TaskEntry {
    const t = this.tasks.get(key(ns, id));
    if (!t) throw notFound(`no running task found: task ${id} not found`);
    return t;
  }

  has(ns: string, id: string): boolean {
    return this.tasks.has(key(ns, id));
  }

  list(ns: string): TaskEntry[] {
    return [...this.tasks.values()].filter((t) => t.namespace === ns);
  }

  all(): TaskEntry[] {
    return [...this.tasks.values()];
  }

  private async connect(address: string): Promise<ShimConnection> {
    const existing = this.shims.get(address);
    if (existing && !existing.client.isClosed) return existing;
    // Tasks of one pooled shim are restored side by side: they share one connection.
    const pending = this.connecting.get(address);
    if (pending !== undefined) return pending;
    const connecting = (async () => {
      const client = await TtrpcClient.connect(address);
      const conn: ShimConnection = { address, client, tasks: new Set(), closing: false };
      this.shims.set(address, conn);
      client.closed.then(() => this.onShimClosed(conn));
      return conn;
    })();
    this.connecting.set(address, connecting);
    try {
      return await connecting;
    } finally {
      this.connecting.delete(address);
    }
  }

  /**
   * Berth's shim serves every container of a group (pod, or explicit group) from one
   * process, at an address derived from the daemon address, namespace and group key.
   * When we already hold a connection to that shim and it serves tasks, its `start`
   * would only print that address: skip the process (a Node start-up per container) and
   * record the address in the bundle as `start` does. Other shims always run `start`.
   */
  private async runningGroupShim(
    binary: string,
    ns: string,
    id: string,
    spec: Uint8Array,
    bundle: string,
  ): Promise<string | undefined> {
    if (basename(binary) !== BERTH_SHIM_BINARY) return undefined;
    let address: string;
    try {
      address = socketAddress(
        this.cfg.grpcAddress,
        ns,
        groupKey(JSON.parse(Buffer.from(spec).toString("utf8")), id),
      );
    } catch {
      return undefined; // let `start` report what is wrong
    }
    const path = socketPath(address);
    // The group's shim died and is being started again: wait for it, or two shims would be
    // launched at one address (and both adopt the group's containers).
    const relaunch = this.relaunching.get(path);
    if (relaunch !== undefined) await relaunch.catch(() => undefined);
    const conn = this.shims.get(path);
    if (conn === undefined || conn.client.isClosed || conn.closing || conn.tasks.size === 0) return undefined;
    await writeFile(join(bundle, "address"), address);
    return path;
  }

  private taskApi(conn: ShimConnection, ns: string): TaskClient {
    return createTtrpcClient(TaskDefinition, conn.client, { defaultMetadata: namespaceMetadata(ns) });
  }

  async create(ns: string, container: ContainerRecord, opts: CreateOptions): Promise<TaskEntry> {
    const k = key(ns, container.id);
    if (this.tasks.has(k) || this.creating.has(k))
      throw alreadyExists(`task ${container.id}: already exists`);
    if (!container.spec) throw invalidArgument(`container ${container.id} has no spec`);
    this.creating.add(k);
    const bundle = this.bundleDir(ns, container.id);
    // The task's own options, else the container's runtime options (what `ctr run
    // --runc-binary` sets), go to the shim's start and Create, as containerd does.
    const taskOptions =
      opts.options && opts.options.typeUrl !== "" ? opts.options : container.runtime.options;
    let closeLog: (() => void) | undefined;
    try {
      const binary = findShimBinary(container.runtime.name, this.cfg.shimDirs);
      await rm(bundle, { recursive: true, force: true });
      await mkdir(join(bundle, "rootfs"), { recursive: true, mode: 0o711 });
      await writeFile(join(bundle, "config.json"), container.spec.value);
      const record: BundleRecord = { runtime: container.runtime.name, binary };
      if (taskOptions !== undefined && taskOptions.typeUrl !== "")
        record.options = Buffer.from(Any.encode(taskOptions).finish()).toString("base64");
      await writeFile(join(bundle, "runtime.json"), JSON.stringify(record));
      let address = await this.runningGroupShim(binary, ns, container.id, container.spec.value, bundle);
      if (address === undefined) {
        closeLog = await openShimLog(bundle, this.log.child({ shim: container.id }));
        const launch = {
          binary,
          namespace: ns,
          id: container.id,
          bundle,
          grpcAddress: this.cfg.grpcAddress,
          ttrpcAddress: this.cfg.ttrpcAddress,
          publishBinary: this.cfg.publishBinary,
          options: taskOptions,
        };
        address =
          basename(binary) === BERTH_SHIM_BINARY ? await launchBerthShim(launch) : await startShim(launch);
        this.log.debug("shim started", { namespace: ns, id: container.id, address, binary });
      } else {
        this.log.debug("task joins its group's shim", { namespace: ns, id: container.id, address });
      }
      const conn = await this.connect(address);
      conn.closeLog ??= closeLog;
      const api = this.taskApi(conn, ns);
      const resp = await api.create({
        id: container.id,
        bundle,
        rootfs: opts.rootfs,
        terminal: opts.terminal,
        stdin: opts.stdin,
        stdout: opts.stdout,
        stderr: opts.stderr,
        options: taskOptions,
      });
      const entry: TaskEntry = {
        namespace: ns,
        id: container.id,
        bundle,
        runtime: container.runtime.name,
        binary,
        pid: resp.pid,
        shim: conn,
        api,
        held: holdOutput(bundle),
      };
      conn.tasks.add(k);
      this.tasks.set(k, entry);
      return entry;
    } catch (err) {
      this.log.warn("task create failed", { namespace: ns, id: container.id, error: String(err) });
      closeLog?.();
      await this.removeBundle(bundle);
      throw err;
    } finally {
      this.creating.delete(k);
    }
  }

  /** Deletes the init process and the task; shuts the shim down when it serves nothing else. */
  async delete(ns: string, id: string): Promise<DeleteResponse> {
    const t = this.get(ns, id);
    const resp = await t.api.delete({ id, execId: "" });
    release(t.held);
    this.tasks.delete(key(ns, id));
    t.shim.tasks.delete(key(ns, id));
    if (t.shim.tasks.size === 0) {
      t.shim.closing = true;
      await t.api.shutdown({ id, now: false }).catch(() => undefined);
      t.shim.client.close();
      t.shim.closeLog?.();
      this.shims.delete(t.shim.address);
    }
    await this.removeBundle(t.bundle);
    return resp;
  }

  private async removeBundle(bundle: string): Promise<void> {
    const rootfs = join(bundle, "rootfs");
    if (existsSync(rootfs)) {
      try {
        unmountAll(rootfs, MNT_DETACH);
      } catch (err) {
        this.log.warn("cannot unmount a bundle's rootfs", { rootfs, error: String(err) });
      }
    }
    await rm(bundle, { recursive: true, force: true }).catch((err) =>
      this.log.warn("cannot remove bundle", { bundle, error: String(err) }),
    );
  }

  /**
   * A shim connection closed: unless we closed it, the shim died. Berth's shim is started
   * again and adopts the containers, which outlived it (docs/faults.md); what it does not
   * adopt, and the tasks of any other shim, are dead: clean up after them.
   */
  private async onShimClosed(conn: ShimConnection): Promise<void> {
    if (this.shims.get(conn.address) === conn) this.shims.delete(conn.address);
    conn.closeLog?.();
    if (conn.closing || this.closed) return;
    const lost: TaskEntry[] = [];
    for (const k of conn.tasks) {
      const t = this.tasks.get(k);
      if (t !== undefined && t.shim === conn) lost.push(t);
    }
    if (lost.length === 0) return;
    const adoptable = lost.filter((t) => basename(t.binary) === BERTH_SHIM_BINARY);
    const adopted = new Set<TaskEntry>();
    if (adoptable.length > 0) {
      this.log.warn("shim died: starting it again to adopt its containers", {
        address: conn.address,
        tasks: adoptable.map((t) => `${t.namespace}/${t.id}`),
      });
      for (const t of await this.adoptAll(conn.address, adoptable)) adopted.add(t);
    }
    const dead = lost.filter((t) => !adopted.has(t));
    for (const t of dead) this.tasks.delete(key(t.namespace, t.id));
    if (dead.length === 0) return;
    this.log.warn("shim died: cleaning up its tasks", {
      address: conn.address,
      tasks: dead.map((t) => `${t.namespace}/${t.id}`),
    });
    // A pooled shim serves many tasks: their exits are reported together, not one
    // `<shim> delete` after another.
    await eachLimited(dead, CLEANUP_CONCURRENCY, (t) => {
      release(t.held);
      return this.cleanupDeadShim(t.namespace, t.id, t.bundle, t.binary, t.pid);
    });
  }

  /**
   * Starts Berth's shim for a group whose shim died (once per address, whoever asks) and
   * connects to it; it adopts the group's containers before it serves.
   */
  private relaunch(address: string, t: { namespace: string; id: string; bundle: string; binary: string }) {
    const pending = this.relaunching.get(address);
    if (pending !== undefined) return pending;
    const relaunched = (async () => {
      const rec = JSON.parse(await readFile(join(t.bundle, "runtime.json"), "utf8")) as BundleRecord;
      const closeLog = await openShimLog(t.bundle, this.log.child({ shim: t.id }));
      try {
        const started = await launchBerthShim({
          binary: t.binary,
          namespace: t.namespace,
          id: t.id,
          bundle: t.bundle,
          grpcAddress: this.cfg.grpcAddress,
          ttrpcAddress: this.cfg.ttrpcAddress,
          publishBinary: this.cfg.publishBinary,
          options: rec.options === undefined ? undefined : Any.decode(Buffer.from(rec.options, "base64")),
        });
        const conn = await this.connect(started);
        conn.closeLog ??= closeLog;
        return conn;
      } catch (err) {
        closeLog();
        throw err;
      }
    })();
    this.relaunching.set(address, relaunched);
    relaunched.then(
      () => this.relaunching.delete(address),
      () => this.relaunching.delete(address),
    );
    return relaunched;
  }

  /** The tasks of a dead Berth shim that a new one adopted (their entries now point at it). */
  private async adoptAll(address: string, tasks: TaskEntry[]): Promise<TaskEntry[]> {
    let conn: ShimConnection;
    try {
      conn = await this.relaunch(address, tasks[0]!);
    } catch (err) {
      this.log.error("cannot start a shim again to adopt its containers", { address, error: String(err) });
      return [];
    }
    const adopted: TaskEntry[] = [];
    await eachLimited(tasks, RESTORE_CONCURRENCY, async (t) => {
      const api = this.taskApi(conn, t.namespace);
      try {
        const state = await api.state({ id: t.id, execId: "" }, { timeoutMs: 10_000 });
        t.shim = conn;
        t.api = api;
        t.pid = state.pid;
        conn.tasks.add(key(t.namespace, t.id));
        adopted.push(t);
      } catch (err) {
        this.log.warn("a task was not adopted by the new shim", {
          namespace: t.namespace,
          id: t.id,
          error: String(err),
        });
      }
    });
    if (conn.tasks.size === 0) this.shutdownIdle(conn);
    this.log.info("containers adopted by a new shim", { address: conn.address, adopted: adopted.length });
    return adopted;
  }

  /** A shim that serves nothing (it adopted nothing) is asked to exit. */
  private shutdownIdle(conn: ShimConnection): void {
    conn.closing = true;
    void createTtrpcClient(TaskDefinition, conn.client)
      .shutdown({ id: "", now: false })
      .catch(() => undefined)
      .finally(() => {
        conn.client.close();
        conn.closeLog?.();
        if (this.shims.get(conn.address) === conn) this.shims.delete(conn.address);
      });
  }

  private async cleanupDeadShim(
    ns: string,
    id: string,
    bundle: string,
    binary: string,
    pid: number,
  ): Promise<void> {
    const resp = await deleteShim({
      binary,
      namespace: ns,
      id,
      bundle,
      grpcAddress: this.cfg.grpcAddress,
      ttrpcAddress: this.cfg.ttrpcAddress,
      publishBinary: this.cfg.publishBinary,
    }).catch(() => ({ pid, exitStatus: 137, exitedAt: new Date() }));
    const exitedAt = resp.exitedAt ?? new Date();
    this.events.publish(ns, "/tasks/exit", "containerd.events.TaskExit", TaskExit, {
      containerId: id,
      id,
      pid: resp.pid || pid,
      exitStatus: resp.exitStatus,
      exitedAt,
    });
    this.events.publish(ns, "/tasks/delete", "containerd.events.TaskDelete", TaskDelete, {
      containerId: id,
      pid: resp.pid || pid,
      exitStatus: resp.exitStatus,
      exitedAt,
      id: "",
    });
    await this.removeBundle(bundle);
  }

  /** Reconnects to the shims of every bundle on disk; cleans up after those that died. */
  async restore(): Promise<void> {
    if (!existsSync(this.root)) return;
    const bundles: Array<{ ns: string; id: string }> = [];
    for (const ns of await readdir(this.root)) {
      for (const id of await readdir(join(this.root, ns)).catch(() => [] as string[]))
        bundles.push({ ns, id });
    }
    // Side by side: a node's hundreds of tasks, or a dead pooled shim's, do not wait in line.
    await eachLimited(bundles, RESTORE_CONCURRENCY, ({ ns, id }) => this.restoreTask(ns, id));
    // Only once every task is restored: a pooled shim's connection may serve a task still
    // being restored when another of its tasks is found gone.
    for (const conn of [...this.shims.values()]) {
      if (conn.tasks.size > 0 || conn.closing) continue;
      this.shutdownIdle(conn);
    }
  }

  private async restoreTask(ns: string, id: string): Promise<void> {
    const bundle = join(this.root, ns, id);
    let rec: BundleRecord;
    try {
      rec = JSON.parse(await readFile(join(bundle, "runtime.json"), "utf8")) as BundleRecord;
    } catch {
      this.log.warn("removing a bundle with no runtime record", { bundle });
      await this.removeBundle(bundle);
      return;
    }
    let state: StateResponse | null = null;
    let conn: ShimConnection | null = null;
    try {
      const addressFile = (await readFile(join(bundle, "address"), "utf8")).trim();
      const address = addressFile.startsWith("unix://") ? addressFile.slice("unix://".length) : addressFile;
      try {
        conn = await this.connect(address);
      } catch (err) {
        // Berth's shim died while berthd was away: a new one adopts the containers.
        if (basename(rec.binary) !== BERTH_SHIM_BINARY) throw err;
        this.log.warn("shim of a task is gone: starting it again to adopt", { namespace: ns, id });
        conn = await this.relaunch(address, { namespace: ns, id, bundle, binary: rec.binary });
      }
      state = await this.taskApi(conn, ns).state({ id, execId: "" }, { timeoutMs: 10_000 });
    } catch (err) {
      this.log.warn("shim of a task is gone: cleaning up", { namespace: ns, id, error: String(err) });
      await this.cleanupDeadShim(ns, id, bundle, rec.binary, 0);
      return;
    }
    const api = this.taskApi(conn, ns);
    const entry: TaskEntry = {
      namespace: ns,
      id,
      bundle,
      runtime: rec.runtime,
      binary: rec.binary,
      pid: state.pid,
      shim: conn,
      api,
      held: holdOutput(bundle),
    };
    conn.tasks.add(key(ns, id));
    this.tasks.set(key(ns, id), entry);
    this.log.info("reconnected to task", { namespace: ns, id, pid: state.pid, status: state.status });
  }

  /** Disconnects from shims without stopping them: containers outlive the daemon. */
  close(): void {
    this.closed = true;
    for (const conn of this.shims.values()) {
      conn.closing = true;
      conn.client.close();
      conn.closeLog?.();
    }
    this.shims.clear();
    for (const t of this.tasks.values()) release(t.held);
  }
}
