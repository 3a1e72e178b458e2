import { type ChildProcess, type StdioOptions, spawn } from "node:child_process";
import { constants } from "node:os";

// Every external command the shim runs (runc, mount helpers) goes through run(): one place
// that names the command and its stderr in errors, and that remembers which pids Node
// spawned, so the zombie sweep never reaps a child libuv is about to wait for.

/** Pids of children spawned here and not yet reaped by libuv. */
export const spawnedPids = new Set<number>();

export interface RunOptions {
  /** Written to the command's stdin, then closed. */
  input?: string | Uint8Array;
  /** Descriptors for the child's stdin, stdout and stderr (default: stdin ignored, output captured). */
  stdio?: [number | "ignore" | "pipe", number | "ignore" | "pipe", number | "ignore" | "pipe"];
  cwd?: string;
  signal?: AbortSignal;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  override name = "CommandError";
  readonly exitCode: number;
  readonly stderr: string;
  readonly stdout: string;

  constructor(command: string, result: RunResult) {
    const detail = result.stderr.trim() || result.stdout.trim();
    super(`${command}: exit status ${result.exitCode}${detail === "" ? "" : `: ${detail}`}`);
    this.exitCode = result.exitCode;
    this.stderr = result.stderr;
    this.stdout = result.stdout;
  }
}

/** Runs a command to completion; resolves with its exit code and output, never rejects on a non-zero exit. */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const stdio: StdioOptions = options.stdio ?? [
    options.input === undefined ? "ignore" : "pipe",
    "pipe",
    "pipe",
  ];
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(file, args, { stdio, cwd: options.cwd, signal: options.signal });
    } catch (err) {
      reject(err);
      return;
    }
    const pid = child.pid;
    if (pid !== undefined) spawnedPids.add(pid);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on("data", (b: Buffer) => out.push(b));
    child.stderr?.on("data", (b: Buffer) => err.push(b));
    child.once("error", (e) => {
      if (pid !== undefined) spawnedPids.delete(pid);
      reject(new Error(`${file} ${args.join(" ")}: ${e.message}`, { cause: e }));
    });
    child.once("close", (code, signal) => {
      if (pid !== undefined) spawnedPids.delete(pid);
      resolve({
        exitCode: code ?? 128 + signalNumber(signal),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
    if (options.input !== undefined && child.stdin) {
      child.stdin.on("error", () => {}); // the command may exit without reading
      child.stdin.end(options.input);
    }
  });
}

/** Like run() but rejects with a CommandError naming the command unless it exits 0. */
export async function runOk(
  file: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const result = await run(file, args, options);
  if (result.exitCode !== 0) throw new CommandError(`${file} ${args.join(" ")}`, result);
  return result;
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal === null ? 0 : (constants.signals[signal] ?? 0);
}
