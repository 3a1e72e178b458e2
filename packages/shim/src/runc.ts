import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CommandError, type RunOptions, type RunResult, run } from "./command.js";
import { messageOf, notFound } from "./errors.js";

// runc, the way the shim drives it: global flags once, one method per subcommand, and
// failures carrying the last error runc wrote to its JSON log.

export const DEFAULT_RUNC_BINARY = "runc";
/** Parent of per-namespace runc state dirs when the runtime options name no root. */
export const DEFAULT_RUNC_ROOT = "/run/berth/runc";

export interface RuncOptions {
  binary: string;
  /** The namespace's state dir (`<options root>/<namespace>`). */
  root: string;
  /** `<bundle>/log.json`. */
  log: string;
  systemdCgroup: boolean;
}

type Stdio = NonNullable<RunOptions["stdio"]>;

export interface CreateOptions {
  pidFile: string;
  consoleSocket?: string;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  stdio: Stdio;
}

export interface ExecOptions {
  pidFile: string;
  consoleSocket?: string;
  stdio: Stdio;
}

/** The runtime options a shim saved in the bundle's options.json (Container.create). */
interface SavedOptions {
  binary_name?: string;
  root?: string;
  systemd_cgroup?: boolean;
}

/**
 * The runc of a container another shim process created, from the options it saved in the
 * bundle (the defaults when there are none): for `delete` and for adoption.
 */
export async function runcOfBundle(bundle: string, namespace: string): Promise<Runc> {
  let options: SavedOptions = {};
  try {
    options = JSON.parse(await readFile(join(bundle, "options.json"), "utf8")) as SavedOptions;
  } catch {
    // none saved: runc's defaults
  }
  return new Runc({
    binary: options.binary_name || DEFAULT_RUNC_BINARY,
    root: join(options.root || DEFAULT_RUNC_ROOT, namespace),
    log: join(bundle, "log.json"),
    systemdCgroup: options.systemd_cgroup === true,
  });
}

/** A failed runc call; `message` is upstream's "<what> failed: <runc's last error>". */
export class RuncError extends Error {
  override name = "RuncError";
}

export class Runc {
  readonly options: RuncOptions;

  constructor(options: RuncOptions) {
    this.options = options;
  }

  #args(args: readonly string[]): string[] {
    const global = ["--root", this.options.root, "--log", this.options.log, "--log-format", "json"];
    if (this.options.systemdCgroup) global.push("--systemd-cgroup");
    return [...global, ...args];
  }

  async #run(what: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const full = this.#args(args);
    const result = await run(this.options.binary, full, options);
    if (result.exitCode === 0) return result;
    const logged = await lastRuntimeError(this.options.log);
    const base = new CommandError(`${this.options.binary} ${full.join(" ")}`, result);
    throw new RuncError(logged === "" ? `${what} failed: ${base.message}` : `${what} failed: ${logged}`, {
      cause: base,
    });
  }

  async create(id: string, bundle: string, o: CreateOptions): Promise<void> {
    const args = ["create", "--bundle", bundle, "--pid-file", o.pidFile];
    if (o.consoleSocket !== undefined) args.push("--console-socket", o.consoleSocket);
    if (o.noPivot === true) args.push("--no-pivot");
    if (o.noNewKeyring === true) args.push("--no-new-keyring");
    args.push(id);
    await this.#run("OCI runtime create", args, { stdio: o.stdio, cwd: bundle });
  }

  async start(id: string): Promise<void> {
    await this.#run("OCI runtime start", ["start", id]);
  }

  /** `runc exec --detach --process <file>` with the process spec written to a temp file in `dir`. */
  async exec(id: string, dir: string, execId: string, spec: unknown, o: ExecOptions): Promise<void> {
    const processFile = join(dir, `.${execId}-process.json`);
    await writeFile(processFile, JSON.stringify(spec), { mode: 0o600 });
    try {
      const args = ["exec", "--detach", "--process", processFile, "--pid-file", o.pidFile];
      if (o.consoleSocket !== undefined) args.push("--console-socket", o.consoleSocket);
      args.push(id);
      await this.#run("OCI runtime exec", args, { stdio: o.stdio });
    } finally {
      await rm(processFile, { force: true });
    }
  }

  /** `runc kill`; "not running" and "does not exist" become NotFound, as upstream maps them. */
  async kill(id: string, signal: number, all: boolean): Promise<void> {
    const args = ["kill"];
    if (all) args.push("--all");
    args.push(id, String(signal));
    try {
      await this.#run("OCI runtime kill", args);
    } catch (err) {
      throw killError(err);
    }
  }

  async delete(id: string, force = false): Promise<void> {
    await this.#run("OCI runtime delete", force ? ["delete", "--force", id] : ["delete", id]);
  }

  async pause(id: string): Promise<void> {
    await this.#run("OCI runtime pause", ["pause", id]);
  }

  async resume(id: string): Promise<void> {
    await this.#run("OCI runtime resume", ["resume", id]);
  }

  async ps(id: string): Promise<number[]> {
    const { stdout } = await this.#run("OCI runtime ps", ["ps", "--format", "json", id]);
    const parsed: unknown = JSON.parse(stdout.trim() === "" ? "[]" : stdout);
    if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === "number")) {
      throw new RuncError(`runc ps: unexpected output ${stdout.slice(0, 200)}`);
    }
    return parsed;
  }

  /** `runc state`: the container's status ("created", "running", "paused", "stopped"). */
  async state(id: string): Promise<{ status: string; pid: number }> {
    const { stdout } = await this.#run("OCI runtime state", ["state", id]);
    const state = parseRuncJson(stdout) as { status?: unknown; pid?: unknown } | null;
    if (typeof state?.status !== "string") {
      throw new RuncError(`runc state: unexpected output ${stdout.slice(0, 200)}`);
    }
    return { status: state.status, pid: typeof state.pid === "number" ? state.pid : 0 };
  }

  /** `runc update --resources -` with LinuxResources JSON on stdin. */
  async update(id: string, resources: Uint8Array): Promise<void> {
    await this.#run("OCI runtime update", ["update", "--resources", "-", id], {
      input: resources,
      stdio: ["pipe", "pipe", "pipe"],
    });
  }

  /** `runc events --stats`: one JSON event whose `data` is runc's cgroup statistics. */
  async stats(id: string): Promise<unknown> {
    const { stdout } = await this.#run("OCI runtime stats", ["events", "--stats", id]);
    const event: unknown = parseRuncJson(stdout);
    if (typeof event !== "object" || event === null || !("data" in event)) {
      throw new RuncError(`runc events --stats: unexpected output ${stdout.slice(0, 200)}`);
    }
    return event.data;
  }
}

function killError(err: unknown): Error {
  const text = `${messageOf(err)} ${err instanceof Error && err.cause instanceof Error ? err.cause.message : ""}`;
  const lower = text.toLowerCase();
  if (
    lower.includes("process already finished") ||
    lower.includes("container not running") ||
    lower.includes("no such process")
  ) {
    return notFound("process already finished: not found");
  }
  if (lower.includes("does not exist")) return notFound("no such container: not found");
  return err instanceof Error ? err : new Error(String(err));
}

/** The message of the last `"level":"error"` line in runc's JSON log, or "". */
export async function lastRuntimeError(logFile: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(logFile, "utf8");
  } catch {
    return "";
  }
  let message = "";
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const entry: unknown = JSON.parse(line);
      if (typeof entry === "object" && entry !== null && "level" in entry && entry.level === "error") {
        const msg = "msg" in entry ? entry.msg : "";
        if (typeof msg === "string") message = msg.trim();
      }
    } catch {
      // a torn line: runc was killed while writing
    }
  }
  return message;
}

/** Reads a pid file written by runc. */
export async function readPidFile(path: string): Promise<number> {
  const text = (await readFile(path, "utf8")).trim();
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`${path}: not a pid: ${JSON.stringify(text)}`);
  return pid;
}

/**
 * Parses runc's JSON keeping integers beyond 2^53 exact: cgroup v1 reports "no limit" as
 * 9223372036854771712, which a double cannot hold. Such values are kept as digit strings,
 * which the protobuf writer encodes as uint64 unchanged.
 */
export function parseRuncJson(text: string): unknown {
  return JSON.parse(text.replace(/([:[,]\s*)(\d{16,})(?=\s*[,}\]])/g, '$1"$2"'));
}
