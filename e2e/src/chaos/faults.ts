// The faults a chaos run injects, one table per stack. Each is a SIGKILL of a real
// process of the stack: a daemon (started again at once on the same config and state), a
// shim serving pods, or a `runc create` caught while it runs (its shim is creating a
// container). A fault that finds nothing to kill within its bound is recorded as skipped.
import { readFile, readdir } from "node:fs/promises";
import { basename } from "node:path";
import type { CriRuntime } from "../bench/cri-runtimes.js";
import { argvOf, parseCmdline } from "../fixtures/proc.js";
import { sleep } from "../fixtures/tmp.js";
import type { SeededRandom } from "./random.js";

export type StackName = "berth" | "containerd";
export type FaultKind = "berthd" | "berth-cri" | "containerd" | "shim" | "runc-create";

export interface FaultSpec {
  kind: FaultKind;
  /** What the fault does, for the report and docs/chaos.md. */
  what: string;
  /** Injects the fault; says what it killed, or undefined when there was nothing to kill. */
  inject(rt: CriRuntime, random: SeededRandom): Promise<FaultTarget | undefined>;
}

export interface FaultTarget {
  /** What was killed, for the report. */
  what: string;
  /** The container a killed `runc create` was creating (its runc state is looked for at the end). */
  containerId?: string;
  /** The containers whose processes a killed shim was the parent of. */
  served?: string[];
}

/** How long a runc-create fault watches /proc for a `runc create` before it gives up. */
const RUNC_CREATE_WATCH_MS = 15_000;

export const FAULTS: Record<StackName, readonly FaultSpec[]> = {
  berth: [
    {
      kind: "berthd",
      what: "SIGKILL berthd, start it again on the same config and state",
      inject: (rt) => restartDaemon(rt, "berthd"),
    },
    {
      kind: "berth-cri",
      what: "SIGKILL berth-cri, start it again on the same config and state",
      inject: (rt) => restartDaemon(rt, "berth-cri"),
    },
    {
      kind: "shim",
      what: "SIGKILL a random Berth shim (containerd-shim-berth-v2) serving pods",
      inject: killShim,
    },
    {
      kind: "runc-create",
      what: "SIGKILL a `runc create` of the stack's shims while it runs",
      inject: killRuncCreate,
    },
  ],
  containerd: [
    {
      kind: "containerd",
      what: "SIGKILL containerd (its CRI plugin is in-process), start it again on the same config",
      inject: (rt) => restartDaemon(rt, "containerd"),
    },
    {
      kind: "shim",
      what: "SIGKILL a random runc shim (containerd-shim-runc-v2) serving a pod",
      inject: killShim,
    },
    {
      kind: "runc-create",
      what: "SIGKILL a `runc create` of the stack's shims while it runs",
      inject: killRuncCreate,
    },
  ],
};

async function restartDaemon(rt: CriRuntime, name: string): Promise<FaultTarget> {
  const pid = rt.daemons().find((d) => d.name === name)?.pid;
  await rt.restart(name);
  return { what: `${name} pid ${pid}` };
}

/** Shims serving tasks: not a `start` or `delete` invocation on its way out. */
async function servingShims(rt: CriRuntime): Promise<number[]> {
  const out: number[] = [];
  for (const pid of rt.shimPids()) {
    const argv = await argvOf(pid).catch(() => undefined);
    if (argv !== undefined && !argv.includes("start") && !argv.includes("delete")) out.push(pid);
  }
  return out.sort((a, b) => a - b);
}

/**
 * The containers whose processes are children of `pid` (a shim is their parent and
 * subreaper): the container id is the last part of each child's cgroup path.
 */
async function containersOf(pid: number): Promise<string[]> {
  const ids = new Set<string>();
  for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const children = await readFile(`/proc/${pid}/task/${tid}/children`, "utf8").catch(() => "");
    for (const child of children.split(" ").filter((c) => c !== "")) {
      const cgroup = await readFile(`/proc/${child}/cgroup`, "utf8").catch(() => "");
      const id = /\/([0-9a-f]{64})$/m.exec(cgroup)?.[1];
      if (id !== undefined) ids.add(id);
    }
  }
  return [...ids];
}

async function killShim(rt: CriRuntime, random: SeededRandom): Promise<FaultTarget | undefined> {
  const shims = await servingShims(rt);
  if (shims.length === 0) return undefined;
  const pid = random.pick(shims);
  const argv = await argvOf(pid).catch(() => [] as string[]);
  const id = argv[argv.indexOf("-id") + 1] ?? "?";
  const served = await containersOf(pid);
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return undefined; // exited meanwhile
  }
  return {
    what: `shim pid ${pid} (-id ${id.slice(0, 12)}, ${served.length} containers) of ${shims.length}`,
    served,
  };
}

/** True for `runc … create … --bundle <dir under the daemon's state>`. */
function isStackRuncCreate(argv: readonly string[], daemonState: string): boolean {
  if (basename(argv[0] ?? "") !== "runc" || !argv.includes("create")) return false;
  const bundle = argv[argv.indexOf("--bundle") + 1] ?? "";
  return argv.includes("--bundle") && bundle.startsWith(`${daemonState}/`);
}

/**
 * Watches /proc for a `runc create` of this stack (its bundle is under the daemon's state)
 * and kills it after a random 0–50 ms, so that runc dies at different points of the create.
 * A pid whose command line is neither a shim's nor runc's is not read again: a shim's
 * child shows the shim's command line until it has exec'd runc.
 */
async function killRuncCreate(rt: CriRuntime, random: SeededRandom): Promise<FaultTarget | undefined> {
  const settled = new Set<string>();
  const deadline = Date.now() + RUNC_CREATE_WATCH_MS;
  const delay = random.int(0, 50);
  while (Date.now() < deadline) {
    for (const entry of await readdir("/proc")) {
      if (settled.has(entry) || !/^\d+$/.test(entry)) continue;
      const text = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => undefined);
      if (text === undefined) {
        settled.add(entry);
        continue;
      }
      const argv = parseCmdline(text);
      if (isStackRuncCreate(argv, rt.layout.daemonState)) {
        if (delay > 0) await sleep(delay);
        try {
          process.kill(Number(entry), "SIGKILL");
        } catch {
          settled.add(entry);
          continue; // done already
        }
        const id = argv[argv.length - 1] ?? "?";
        return { what: `runc create ${id.slice(0, 12)} pid ${entry} after ${delay} ms`, containerId: id };
      }
      const exe = argv[0] ?? "";
      if (text !== "" && !exe.includes("containerd-shim") && !exe.includes("node")) settled.add(entry);
    }
    await sleep(10);
  }
  return undefined;
}
