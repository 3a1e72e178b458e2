import { mkdir, readFile, readdir, rename, rm, rmdir, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { CreateTaskRequest, ExecProcessRequest } from "@berth/api/containerd/runtime/v2/task/shim";
import type { Any } from "@berth/api/google/protobuf/any";
import type { ConsoleSocket } from "./console.js";
import { alreadyExists, failedPrecondition, invalidArgument, messageOf, notFound } from "./errors.js";
import { mountAll, unmountAll } from "./mount.js";
import { decodeOptions } from "./options.js";
import { ShimProcess, type StdioCopy } from "./process.js";
import { type ForeignWatch, type Reaper, readStat } from "./reaper.js";
import { DEFAULT_RUNC_BINARY, DEFAULT_RUNC_ROOT, Runc, readPidFile, runcOfBundle } from "./runc.js";
import { ProcessIO, type StdioPaths, parseStdio } from "./stdio.js";
import type { ChildExit } from "./sys.js";

// One container in the shim: its rootfs, its runc handle, its init process and the
// processes exec'd into it. Each method is one Task API call's work, without events.

export const PROCESS_DETAILS_TYPE_URL = "containerd.runc.v1.ProcessDetails";

/** What a new shim needs to adopt the container after this one died (docs/faults.md). */
export const ADOPTION_RECORD = "shim-init.json";
/** The FIFOs of the init process's output, in the bundle. */
const INIT_IO_DIR = "io";

interface AdoptionRecord {
  id: string;
  pid: number;
  /** /proc/<pid>/stat's start time: a later process under the same pid is not the container. */
  startTime: number;
  stdio: StdioPaths;
  rootfs: string;
  killAllOnExit: boolean;
}

/**
 * Without CAP_SYS_RESOURCE a process cannot lower its oom_score_adj, and runc would fail
 * setting a score below the shim's: raise the spec's to the shim's own, as containerd's
 * restrict_oom_score_adj does.
 */
export async function clampOomScoreAdj(bundle: string, own?: number): Promise<boolean> {
  const file = join(bundle, "config.json");
  const spec = JSON.parse(await readFile(file, "utf8")) as { process?: { oomScoreAdj?: number } };
  const wanted = spec.process?.oomScoreAdj;
  if (wanted === undefined || spec.process === undefined) return false;
  const current = own ?? Number((await readFile("/proc/self/oom_score_adj", "utf8")).trim());
  if (wanted >= current) return false;
  spec.process.oomScoreAdj = current;
  await writeFile(file, JSON.stringify(spec));
  return true;
}

/** True when the spec gives the container no PID namespace of its own (its processes outlive init). */
export async function sharesHostPidNamespace(bundle: string): Promise<boolean> {
  const spec = JSON.parse(await readFile(join(bundle, "config.json"), "utf8")) as {
    linux?: { namespaces?: Array<{ type?: string; path?: string }> };
  };
  const pid = spec.linux?.namespaces?.find((ns) => ns.type === "pid");
  return pid === undefined || (pid.path !== undefined && pid.path !== "");
}

export type ExitListener = (container: Container, process: ShimProcess, exit: ChildExit) => void;

interface StdioSetup {
  io: StdioCopy | undefined;
  pipes: ProcessIO | undefined;
  console: ConsoleSocket | undefined;
}

/** `fifoDir`: the output goes through FIFOs there, which a new shim can reopen (not for terminals). */
async function prepareStdio(stdio: StdioPaths, fifoDir?: string): Promise<StdioSetup> {
  if (stdio.terminal) {
    // Terminals are rare for shims: load the pty code only when one is asked for.
    parseStdio(stdio);
    const { ConsoleSocket } = await import("./console.js");
    return { io: undefined, pipes: undefined, console: await ConsoleSocket.create() };
  }
  const pipes = ProcessIO.create(stdio, fifoDir);
  return { io: pipes, pipes, console: undefined };
}

/** After runc ran: the pty from the console socket, or the pipes' copy, started. */
async function startStdio(setup: StdioSetup, stdio: StdioPaths): Promise<StdioCopy | undefined> {
  if (setup.console !== undefined) {
    try {
      const master = await setup.console.receiveMaster();
      const { ConsoleCopy } = await import("./console.js");
      const copy = new ConsoleCopy(master, stdio);
      try {
        await copy.start();
      } catch (err) {
        copy.close();
        throw err;
      }
      return copy;
    } finally {
      await setup.console.close();
    }
  }
  await setup.pipes?.start();
  return setup.pipes;
}

function abandonStdio(setup: StdioSetup): void {
  setup.pipes?.close();
  void setup.console?.close().catch(() => {});
}

export class Container {
  readonly id: string;
  readonly bundle: string;
  readonly runc: Runc;
  /** `<bundle>/rootfs` when the request carried mounts, else "". */
  readonly rootfs: string;
  readonly init: ShimProcess;
  readonly execs = new Map<string, ShimProcess>();
  readonly #reserved = new Set<string>();
  readonly #execSpecs = new Map<string, unknown>();
  readonly #reaper: Reaper;
  readonly #onExit: ExitListener;
  /** The memory cgroup directory of the init process, for OOM watching. */
  memoryCgroup: string | undefined;
  /** Without a PID namespace of its own, the container's other processes are killed when init exits. */
  killAllOnExit = false;

  private constructor(
    request: CreateTaskRequest,
    runc: Runc,
    rootfs: string,
    reaper: Reaper,
    onExit: ExitListener,
  ) {
    this.id = request.id;
    this.bundle = request.bundle;
    this.runc = runc;
    this.rootfs = rootfs;
    this.#reaper = reaper;
    this.#onExit = onExit;
    this.init = new ShimProcess(request.id, stdioOf(request), true);
  }

  /** Mounts the rootfs and runs `runc create`; the init process is then CREATED. */
  static async create(
    request: CreateTaskRequest,
    namespace: string,
    reaper: Reaper,
    onExit: ExitListener,
  ): Promise<Container> {
    if (request.checkpoint !== "") throw failedPrecondition("restoring from a checkpoint is not supported");
    const options = decodeOptions(request.options);
    const { bundle } = request;
    const rootfs = request.rootfs.length > 0 ? join(bundle, "rootfs") : "";
    await writeFile(
      join(bundle, "options.json"),
      JSON.stringify({
        binary_name: options.binaryName,
        root: options.root,
        systemd_cgroup: options.systemdCgroup,
        no_pivot_root: options.noPivotRoot,
        no_new_keyring: options.noNewKeyring,
      }),
      { mode: 0o600 },
    );
    await writeFile(join(bundle, "runtime"), options.binaryName, { mode: 0o600 });
    const runc = new Runc({
      binary: options.binaryName || DEFAULT_RUNC_BINARY,
      root: join(options.root || DEFAULT_RUNC_ROOT, namespace),
      log: join(bundle, "log.json"),
      systemdCgroup: options.systemdCgroup,
    });
    const container = new Container(request, runc, rootfs, reaper, onExit);
    const init = container.init;
    if (rootfs !== "") {
      await mkdir(rootfs, { mode: 0o711 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "EEXIST") throw err;
      });
      try {
        mountAll(request.rootfs, rootfs);
      } catch (err) {
        safeUnmount(rootfs);
        throw new Error(`failed to mount rootfs component: ${messageOf(err)}`, { cause: err });
      }
    }
    let setup: StdioSetup | undefined;
    let created = false;
    try {
      await clampOomScoreAdj(bundle);
      container.killAllOnExit = await sharesHostPidNamespace(bundle);
      setup = await prepareStdio(init.stdio, join(bundle, INIT_IO_DIR));
      const s = setup;
      await reaper.hold(async () => {
        try {
          await runc.create(request.id, bundle, {
            pidFile: join(bundle, "init.pid"),
            consoleSocket: s.console?.path,
            noPivot: options.noPivotRoot,
            noNewKeyring: options.noNewKeyring,
            stdio: s.pipes?.childStdio() ?? ["ignore", "ignore", "ignore"],
          });
        } finally {
          s.pipes?.closeChildEnds();
        }
        created = true;
        init.pid = await readPidFile(join(bundle, "init.pid"));
        reaper.watch(init.pid, (exit) => onExit(container, init, exit));
      });
      init.io = await startStdio(s, init.stdio);
      if (init.exited) init.io?.processExited?.();
      container.memoryCgroup = await memoryCgroupOf(init.pid);
      if (!init.stdio.terminal) await container.#writeAdoptionRecord();
      return container;
    } catch (err) {
      if (setup !== undefined) abandonStdio(setup);
      // Also when runc create itself failed: killed half-way, it may leave its state, its
      // cgroups and a waiting `runc init` behind, and the id could never be created again.
      // Not when it failed because a container of that id exists: that one is not ours.
      if (created) await runc.delete(request.id, true).catch(() => {});
      else if (!/exists/i.test(messageOf(err)))
        await removeAbortedCreate(runc, request.id, bundle, options.systemdCgroup);
      if (rootfs !== "") safeUnmount(rootfs);
      throw err;
    }
  }

  async #writeAdoptionRecord(): Promise<void> {
    const stat = await readStat(this.init.pid);
    if (stat === undefined) return; // exited already: nothing left to adopt
    const record: AdoptionRecord = {
      id: this.id,
      pid: this.init.pid,
      startTime: stat.startTime,
      stdio: this.init.stdio,
      rootfs: this.rootfs,
      killAllOnExit: this.killAllOnExit,
    };
    const tmp = join(this.bundle, `.${ADOPTION_RECORD}`);
    await writeFile(tmp, JSON.stringify(record), { mode: 0o600 });
    await rename(tmp, join(this.bundle, ADOPTION_RECORD));
  }

  /**
   * Takes over a container another shim of this group created and then died serving: its
   * runc state, its output FIFOs (copying on into the same destination), and a watch on
   * its init process, which is not our child (its exit is read from /proc). Exec'd
   * processes are not taken over: their stdio died with the old shim. Undefined when the
   * bundle holds no record (a terminal, or a create that did not finish).
   */
  static async adopt(
    bundle: string,
    reaper: Reaper,
    foreign: ForeignWatch,
    onExit: ExitListener,
  ): Promise<Container | undefined> {
    let record: AdoptionRecord;
    try {
      record = JSON.parse(await readFile(join(bundle, ADOPTION_RECORD), "utf8")) as AdoptionRecord;
    } catch {
      return undefined;
    }
    const runc = await runcOfBundle(bundle, basename(dirname(bundle)));
    const request = { id: record.id, bundle, ...record.stdio } as CreateTaskRequest;
    const container = new Container(request, runc, record.rootfs, reaper, onExit);
    const init = container.init;
    init.pid = record.pid;
    container.killAllOnExit = record.killAllOnExit;
    const status = await runc.state(record.id).then(
      (s) => s.status,
      () => "stopped",
    );
    init.state = status === "created" || status === "paused" ? status : "running";
    const io = ProcessIO.adopt(record.stdio, join(bundle, INIT_IO_DIR));
    init.io = io;
    await io.start();
    container.memoryCgroup = await memoryCgroupOf(init.pid);
    foreign.watch(init.pid, record.startTime, (exit) => onExit(container, init, exit));
    return container;
  }

  /** The init process for "", else the exec'd process with that id. */
  process(execId: string): ShimProcess {
    if (execId === "") return this.init;
    const p = this.execs.get(execId);
    if (p === undefined) throw notFound(`process does not exist ${execId}: not found`);
    return p;
  }

  /** All processes, init last. */
  all(): ShimProcess[] {
    return [...this.execs.values(), this.init];
  }

  async start(execId: string): Promise<ShimProcess> {
    const p = this.process(execId);
    if (p.isInit) {
      p.expect("start", ["created"]);
      await this.runc.start(this.id);
      p.state = "running";
      return p;
    }
    p.expect("start", ["created"]);
    await this.#startExec(p);
    return p;
  }

  async #startExec(p: ShimProcess): Promise<void> {
    const spec = this.#execSpecs.get(p.id);
    let setup: StdioSetup | undefined;
    try {
      setup = await prepareStdio(p.stdio);
      const s = setup;
      const pidFile = join(this.bundle, `${p.id}.pid`);
      await this.#reaper.hold(async () => {
        try {
          await this.runc.exec(this.id, this.bundle, p.id, spec, {
            pidFile,
            consoleSocket: s.console?.path,
            stdio: s.pipes?.childStdio() ?? ["ignore", "ignore", "ignore"],
          });
        } finally {
          s.pipes?.closeChildEnds();
        }
        p.pid = await readPidFile(pidFile);
        this.#reaper.watch(p.pid, (exit) => this.#onExit(this, p, exit));
      });
      p.state = "running";
      p.io = await startStdio(s, p.stdio);
      if (p.exited) p.io?.processExited?.();
    } catch (err) {
      if (setup !== undefined && p.io === undefined) abandonStdio(setup);
      if (p.pid === 0) p.releaseWaiters();
      throw err;
    }
  }

  /** Records an exec'd process (CREATED); the id must be new. */
  addExec(request: ExecProcessRequest): ShimProcess {
    if (this.execs.has(request.execId) || this.#reserved.has(request.execId)) {
      throw alreadyExists(`id ${request.execId}: already exists`);
    }
    const state = this.init.state;
    if (state !== "created" && state !== "running")
      throw failedPrecondition(`cannot exec in a ${state} state`);
    if (request.spec === undefined) throw invalidArgument("exec: no process spec");
    let spec: Record<string, unknown>;
    try {
      spec = JSON.parse(Buffer.from(request.spec.value).toString("utf8")) as Record<string, unknown>;
    } catch (err) {
      throw invalidArgument(`exec: process spec is not JSON: ${messageOf(err)}`);
    }
    spec.terminal = request.terminal;
    const p = new ShimProcess(request.execId, stdioOf(request), false);
    this.execs.set(p.id, p);
    this.#execSpecs.set(p.id, spec);
    return p;
  }

  async kill(execId: string, signal: number, all: boolean): Promise<void> {
    const p = this.process(execId);
    if (p.isInit) {
      if (p.state === "deleted") throw notFound("cannot kill a deleted process: not found");
      await this.runc.kill(this.id, signal, all);
      return;
    }
    if (p.pid === 0) throw failedPrecondition("process not created: failed precondition");
    if (p.exited) throw notFound("process already finished: not found");
    try {
      process.kill(p.pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ESRCH")
        throw notFound("process already finished: not found");
      throw err;
    }
  }

  /** Deletes a stopped (or never started) process; for init also the runc container and the rootfs mount. */
  async delete(execId: string): Promise<ShimProcess> {
    const p = this.process(execId);
    if (p.state === "running" || p.state === "paused") {
      throw failedPrecondition(`cannot delete a ${p.state} process`);
    }
    if (p.state === "deleted") throw notFound(`process ${p.id} already deleted: not found`);
    await p.io?.done(2_000);
    p.io?.close();
    if (!p.isInit) {
      await rm(join(this.bundle, `${p.id}.pid`), { force: true });
      this.execs.delete(p.id);
      this.#execSpecs.delete(p.id);
      p.state = "deleted";
      return p;
    }
    let failure: unknown;
    try {
      await this.runc.delete(this.id);
    } catch (err) {
      if (!messageOf(err).includes("does not exist")) failure = err;
    }
    if (this.rootfs !== "") {
      try {
        unmountAll(this.rootfs);
      } catch (err) {
        failure ??= new Error(`failed rootfs umount: ${messageOf(err)}`, { cause: err });
      }
    }
    if (failure !== undefined) throw failure;
    p.state = "deleted";
    return p;
  }

  async pause(): Promise<void> {
    const p = this.init;
    p.expect("pause", ["running"]);
    p.pausing = true;
    try {
      await this.runc.pause(this.id);
      p.state = "paused";
    } finally {
      p.pausing = false;
    }
  }

  async resume(): Promise<void> {
    const p = this.init;
    p.expect("resume", ["paused"]);
    await this.runc.resume(this.id);
    p.state = "running";
  }

  async update(resources: Any | undefined): Promise<void> {
    this.init.expect("update", ["created", "running", "paused"]);
    if (resources === undefined) throw invalidArgument("update: no resources");
    await this.runc.update(this.id, resources.value);
  }

  /** Berth's CRI log extension (see service.ts): the init process's log goes on in a new file. */
  async reopenLog(): Promise<void> {
    const p = this.init;
    if (p.state === "deleted") throw notFound(`container ${this.id} is deleted: not found`);
    if (p.io?.reopenLog === undefined) {
      throw failedPrecondition(`container ${this.id} does not write its output to a CRI log`);
    }
    await p.io.reopenLog();
  }

  /** After the init exited: what is left of a container without a PID namespace is killed, and a paused one thawed. */
  async afterInitExit(): Promise<void> {
    if (this.killAllOnExit) await this.runc.kill(this.id, 9, true).catch(() => {});
    if (this.init.state === "paused") await this.runc.resume(this.id).catch(() => {});
  }
}

function stdioOf(r: { stdin: string; stdout: string; stderr: string; terminal: boolean }): StdioPaths {
  return { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal };
}

function safeUnmount(target: string): void {
  try {
    unmountAll(target);
  } catch {
    // best effort on a failure path
  }
}

/**
 * What a `runc create` killed half-way leaves, which its own failures clean up: runc's
 * state dir without a state.json (`runc delete --force` removes it, as after containerd's
 * failed creates) and the container's cgroups, named by nothing any more.
 */
async function removeAbortedCreate(runc: Runc, id: string, bundle: string, systemdCgroup: boolean) {
  await runc.delete(id, true).catch(() => {});
  if (!systemdCgroup) await removeSpecCgroups(bundle);
}

/**
 * Removes the spec's cgroupfs cgroup (`linux.cgroupsPath`, absolute) in every hierarchy
 * under `cgroupRoot`, and in cgroup v2's root, once empty: runc init may take a moment to
 * exit after its runc was killed, so a busy one is tried again a few times. Quiet.
 */
export async function removeSpecCgroups(bundle: string, cgroupRoot = "/sys/fs/cgroup"): Promise<void> {
  let path: string | undefined;
  try {
    const spec = JSON.parse(await readFile(join(bundle, "config.json"), "utf8")) as {
      linux?: { cgroupsPath?: string };
    };
    path = spec.linux?.cgroupsPath;
  } catch {
    return;
  }
  if (path === undefined || !path.startsWith("/") || path.split("/").includes("..")) return;
  const hierarchies = await readdir(cgroupRoot).catch(() => [] as string[]);
  const dirs = [join(cgroupRoot, path), ...hierarchies.map((h) => join(cgroupRoot, h, path))];
  for (let attempt = 0; attempt < 5; attempt++) {
    let busy = false;
    for (const dir of dirs) {
      await rmdir(dir).catch((err: NodeJS.ErrnoException) => {
        if (err.code === "EBUSY") busy = true;
      });
    }
    if (!busy) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The v1 memory cgroup directory of `pid`, when the memory controller is mounted. */
export async function memoryCgroupOf(pid: number): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/cgroup`, "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const [, controllers, path] = line.split(":");
    if (controllers === undefined || path === undefined) continue;
    if (controllers.split(",").includes("memory")) return join("/sys/fs/cgroup/memory", path);
  }
  return undefined;
}
