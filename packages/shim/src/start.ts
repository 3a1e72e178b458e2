import { spawn } from "node:child_process";
import { closeSync, readFileSync, statSync } from "node:fs";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { dirname, join } from "node:path";
import { Any } from "@berth/api/google/protobuf/any";
import { readGroupKey, socketAddress, socketPath } from "./address.js";
import type { ShimFlags } from "./flags.js";
import { decodeOptions } from "./options.js";
import { initLibc, listenUnixRaw } from "./sys.js";

// `start`: find or launch the shim that serves this container's group. The listening
// socket is created here and handed to a detached copy of this program, so the daemon can
// connect as soon as the address is printed.

/** Binds the group's socket; the fd goes to the serving child, this process never accepts. */
async function listen(path: string): Promise<number> {
  await initLibc();
  return listenUnixRaw(path);
}

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.createConnection({ path });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/** Writes `<bundle>/address` atomically. */
export async function writeAddress(bundle: string, address: string): Promise<void> {
  const tmp = join(bundle, ".address");
  await writeFile(tmp, address, { mode: 0o666 });
  await rename(tmp, join(bundle, "address"));
}

/** Runtime options the daemon wrote to stdin (a protobuf Any), if any. */
function readOptionsFromStdin(): Buffer {
  try {
    const st = statSync("/dev/stdin");
    if (st.isCharacterDevice()) return Buffer.alloc(0); // a terminal or /dev/null
    return readFileSync(0);
  } catch {
    return Buffer.alloc(0);
  }
}

/**
 * Puts the shim in the cgroup the options name, as containerd's runc shim does: on cgroup
 * v2 the one unified hierarchy, on v1 every controller hierarchy where that cgroup exists.
 */
export async function joinShimCgroup(pid: number, cgroup: string, fsRoot = "/sys/fs/cgroup"): Promise<void> {
  const hierarchies = (await readFile("/proc/self/cgroup", "utf8"))
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.split(":")[1] ?? "");
  const unified = hierarchies.every((c) => c === "");
  const dirs = unified
    ? [join(fsRoot, cgroup)]
    : hierarchies.filter((c) => c !== "").map((c) => join(fsRoot, c.replace(/^name=/, ""), cgroup));
  let joined = 0;
  for (const dir of dirs) {
    try {
      await writeFile(join(dir, "cgroup.procs"), String(pid));
      joined++;
    } catch (err) {
      // v1: the cgroup need not exist in every hierarchy.
      if (!unified && (err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw new Error(`failed to join cgroup ${cgroup}: ${(err as Error).message}`, { cause: err });
    }
  }
  if (joined === 0) throw new Error(`failed to load cgroup ${cgroup}: no hierarchy has it`);
}

/** The daemon's score + 1, so the kernel picks the shim before the daemon (upstream's AdjustOOMScore). */
async function adjustOomScore(pid: number, daemonPid: number): Promise<void> {
  const parent = Number((await readFile(`/proc/${daemonPid}/oom_score_adj`, "utf8")).trim());
  const score = Math.min(parent + 1, 1000);
  await writeFile(`/proc/${pid}/oom_score_adj`, String(score));
}

/** How to run the serving shim: a program and its leading arguments (then the shim's flags). */
export interface ShimProgram {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

export interface LaunchRequest {
  flags: Pick<ShimFlags, "namespace" | "id" | "address" | "publishBinary" | "debug">;
  bundle: string;
  program: ShimProgram;
  /** The runtime options (a protobuf Any), empty for none. */
  options: Uint8Array;
  /** The daemon's pid: the shim's OOM score is set just above the daemon's. */
  daemonPid: number;
}

/**
 * Finds or launches the shim serving the bundle's group; returns its address. Used by
 * the `start` action and, without that extra process, by berthd for Berth's own shim.
 */
export async function launchShim(req: LaunchRequest): Promise<string> {
  const { flags, bundle } = req;
  const group = await readGroupKey(bundle, flags.id);
  const address = socketAddress(flags.address, flags.namespace, group);
  const path = socketPath(address);
  await mkdir(dirname(path), { recursive: true, mode: 0o711 });

  let fd: number;
  try {
    fd = await listen(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    if (await canConnect(path)) {
      // A shim for this group is running: it serves this container too.
      await writeAddress(bundle, address);
      return address;
    }
    await rm(path, { force: true });
    fd = await listen(path);
  }
  await chmod(path, 0o600);

  try {
    await writeAddress(bundle, address);
    const args = [
      ...req.program.args,
      "-namespace",
      flags.namespace,
      "-id",
      flags.id,
      "-address",
      flags.address,
    ];
    if (flags.publishBinary !== "") args.push("-publish-binary", flags.publishBinary);
    if (flags.debug) args.push("-debug");
    const child = spawn(req.program.command, args, {
      cwd: bundle,
      detached: true,
      stdio: ["ignore", "ignore", "ignore", fd],
      env: req.program.env,
    });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
    child.unref();
    const pid = child.pid ?? 0;
    try {
      if (req.options.length > 0) {
        const options = decodeOptions(Any.decode(req.options));
        if (options.shimCgroup !== "") await joinShimCgroup(pid, options.shimCgroup);
      }
      await adjustOomScore(pid, req.daemonPid);
    } catch (err) {
      process.kill(pid, "SIGKILL");
      throw err;
    }
  } catch (err) {
    await rm(path, { force: true });
    throw err;
  } finally {
    closeSync(fd);
  }
  // The listener is the child's now; this process exits without touching it.
  return address;
}

/** A shim's heap stays small: a 1 MiB young generation trims ~1 MiB of resident memory per shim. */
export const SHIM_V8_FLAGS = ["--max-semi-space-size=1"];

/** The `start` action: launches this very program to serve, and prints the address. */
export async function startShim(
  flags: ShimFlags,
  self: { execPath: string; args: string[] },
): Promise<string> {
  const v8 = self.args.some((a) => a.startsWith("--max-semi-space-size")) ? [] : SHIM_V8_FLAGS;
  return launchShim({
    flags,
    bundle: flags.bundle || process.cwd(),
    program: { command: self.execPath, args: [...v8, ...self.args], env: process.env },
    options: readOptionsFromStdin(),
    daemonPid: process.ppid,
  });
}
