// Launching and cleaning up shim v2 binaries: `<binary> … start` prints the ttrpc address
// of a (possibly shared) shim; `<binary> … -bundle B delete` cleans up after a dead one.
import { constants, existsSync, openSync } from "node:fs";
import { Socket } from "node:net";
import { delimiter, join } from "node:path";
import { DeleteResponse } from "@berth/api/containerd/runtime/v2/task/shim";
import { Any } from "@berth/api/google/protobuf/any";
import { failedPrecondition, invalidArgument, notFound, unavailable } from "@berth/client/errdefs";
import type { Logger } from "@berth/client/log";
import { execa } from "execa";
import { mknod } from "../sys/device.js";

/** `io.containerd.runc.v2` → `containerd-shim-runc-v2`, as containerd names shim binaries. */
export function shimBinaryName(runtime: string): string {
  const parts = runtime.split(".");
  if (parts.length < 4 || parts[0] !== "io" || parts[1] !== "containerd") {
    throw invalidArgument(
      `invalid runtime name ${JSON.stringify(runtime)}: expected io.containerd.<name>.<version>`,
    );
  }
  return `containerd-shim-${parts.slice(2).join("-")}`;
}

export function findShimBinary(runtime: string, extraDirs: readonly string[] = []): string {
  const name = shimBinaryName(runtime);
  const dirs = [
    ...extraDirs,
    ...(process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin").split(delimiter),
    "/usr/local/bin",
    "/usr/bin",
  ];
  for (const dir of dirs) {
    const p = join(dir, name);
    if (dir !== "" && existsSync(p)) return p;
  }
  throw notFound(
    `runtime ${JSON.stringify(runtime)} binary not installed: ${name} is not on PATH: install it or pick another --runtime`,
  );
}

export interface ShimLaunch {
  binary: string;
  namespace: string;
  id: string;
  bundle: string;
  grpcAddress: string;
  ttrpcAddress: string;
  publishBinary: string;
  options?: Any;
  debug?: boolean;
}

function baseArgs(l: Omit<ShimLaunch, "bundle" | "options">): string[] {
  const args = [
    "-namespace",
    l.namespace,
    "-address",
    l.grpcAddress,
    "-publish-binary",
    l.publishBinary,
    "-id",
    l.id,
  ];
  if (l.debug) args.push("-debug");
  return args;
}

/**
 * Opens the bundle's `log` FIFO for reading before the shim starts: containerd's shims
 * open it for writing at start and fail without a reader. Lines go to our log.
 */
export async function openShimLog(bundle: string, log: Logger): Promise<() => void> {
  const path = join(bundle, "log");
  if (!existsSync(path)) mknod(path, constants.S_IFIFO | 0o700);
  // A pipe handle (epoll), not fs reads: a blocking read would hold a libuv pool
  // thread per shim. O_RDWR keeps a writer open, so the reader never sees EOF.
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  const stream = new Socket({ fd, readable: true, writable: false });
  let rest = "";
  stream.on("data", (chunk) => {
    const lines = (rest + chunk.toString()).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) if (line.trim() !== "") log.debug("shim log", { line });
  });
  stream.on("error", () => undefined);
  return () => {
    stream.destroy();
  };
}

/** Runs `start` and returns the shim's ttrpc address (a unix socket path). */
export async function startShim(l: ShimLaunch): Promise<string> {
  const input = l.options ? Buffer.from(Any.encode(l.options).finish()) : Buffer.alloc(0);
  const r = await execa(l.binary, [...baseArgs(l), "start"], {
    cwd: l.bundle,
    env: { TTRPC_ADDRESS: l.ttrpcAddress, GRPC_ADDRESS: l.grpcAddress, NAMESPACE: l.namespace },
    input,
    reject: false,
    timeout: 30_000,
    stripFinalNewline: true,
  });
  if (r.exitCode !== 0) {
    throw failedPrecondition(
      `${l.binary} start failed (exit ${r.exitCode ?? r.signal}): ${String(r.stderr).trim() || String(r.stdout).trim()}`,
    );
  }
  let out = String(r.stdout).trim();
  if (out.startsWith("{")) out = (JSON.parse(out) as { address?: string }).address ?? "";
  if (!out.startsWith("unix://"))
    throw unavailable(`${l.binary} start printed no unix:// address: ${JSON.stringify(out)}`);
  return out.slice("unix://".length);
}

/**
 * Berth's own shim, launched as its `start` action would launch it but from this process:
 * the group's socket bound here and handed to the serving shim, which saves a Node
 * start-up per shim. The shim program is still the one found on PATH, run without an
 * action; its V8 flag for a small young generation goes through NODE_OPTIONS, since the
 * program may be a wrapper script.
 */
export async function launchBerthShim(l: ShimLaunch): Promise<string> {
  const { SHIM_V8_FLAGS, launchShim } = await import("@berth/shim/start");
  const nodeOptions = [process.env.NODE_OPTIONS ?? "", ...SHIM_V8_FLAGS].join(" ").trim();
  const address = await launchShim({
    flags: {
      namespace: l.namespace,
      id: l.id,
      address: l.grpcAddress,
      publishBinary: l.publishBinary,
      debug: l.debug ?? false,
    },
    bundle: l.bundle,
    program: {
      command: l.binary,
      args: [],
      env: {
        ...process.env,
        TTRPC_ADDRESS: l.ttrpcAddress,
        GRPC_ADDRESS: l.grpcAddress,
        NAMESPACE: l.namespace,
        NODE_OPTIONS: nodeOptions,
      },
    },
    options: l.options ? Any.encode(l.options).finish() : new Uint8Array(),
    daemonPid: process.pid,
  }).catch((err: unknown) => {
    throw failedPrecondition(
      `cannot launch ${l.binary}: ${err instanceof Error ? err.message : String(err)}`,
    );
  });
  return address.slice("unix://".length);
}

/** Runs `delete` for a dead shim; returns its exit report (137 when it cannot say). */
export async function deleteShim(l: Omit<ShimLaunch, "options">): Promise<DeleteResponse> {
  const r = await execa(l.binary, [...baseArgs(l), "-bundle", l.bundle, "delete"], {
    cwd: l.bundle,
    env: { TTRPC_ADDRESS: l.ttrpcAddress },
    encoding: "buffer",
    reject: false,
    timeout: 30_000,
    stripFinalNewline: false,
  });
  if (r.exitCode === 0 && r.stdout.length > 0) {
    try {
      return DeleteResponse.decode(r.stdout);
    } catch {
      // fall through to the default report
    }
  }
  return { pid: 0, exitStatus: 137, exitedAt: new Date() };
}
