// berthctl cri logs: a container's output from its CRI log file (the path ContainerStatus
// reports), stdout to stdout and stderr to stderr; -f follows it, through rotations.

import { ContainerState } from "@berth/api/cri/runtime/v1/api";
import { BerthError, errorKind } from "@berth/client";
import { UsageError, parseOptions } from "../../command.js";
import { criCommand, notFoundAs, requireOneId, wholeNumber } from "./context.js";
import { readLog } from "./cri-log.js";

const DURATION = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/;
const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/**
 * --since: a duration back from now ("42m", "1h30m"), a Unix time in seconds, or a date
 * and time ("2024-05-01T10:00:00Z"; without a zone, local). Unix nanoseconds.
 */
export function parseSince(text: string, nowMs = Date.now()): bigint {
  if (/^\d+(?:\.\d+)?$/.test(text)) return BigInt(Math.round(Number(text) * 1e6)) * 1000n;
  if (DURATION.test(text)) {
    let ns = 0;
    for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g))
      ns += Number(m[1]) * UNIT_NS[m[2]!]!;
    return BigInt(nowMs) * 1_000_000n - BigInt(Math.round(ns));
  }
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) {
    throw new UsageError(
      `--since ${JSON.stringify(text)} is neither a duration nor a time: e.g. --since 10m or --since 2024-05-01T10:00:00Z`,
    );
  }
  return BigInt(ms) * 1_000_000n;
}

/** crictl's "--tail -1" (all lines) as "--tail=-1": Node's parser would take -1 for an option. */
export function joinTailAll(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--tail" && argv[i + 1] === "-1") {
      out.push("--tail=-1");
      i++;
    } else {
      out.push(argv[i]!);
    }
  }
  return out;
}

/** The log of the container's previous attempt: ".../2.log" → ".../1.log". */
export function previousLogPath(path: string, attempt: number): string {
  const slash = path.lastIndexOf("/");
  const dot = path.lastIndexOf(".");
  const ext = dot > slash ? path.slice(dot) : "";
  return `${path.slice(0, slash + 1)}${attempt - 1}${ext}`;
}

export const logsCommand = criCommand({
  name: "logs",
  summary: "print a container's logs",
  synopsis: "[-f] [--tail N] [-t] [--since TIME] [-p] CONTAINER-ID",
  help: [
    "-f, --follow          keep printing what the container writes, until it stops",
    "--tail N              start N lines from the end (default: all)",
    "-t, --timestamps      put each line's time first",
    "--since TIME          only lines since TIME: a duration back (10m, 1h) or a date and time",
    "-p, --previous        the log of the container's previous attempt",
    "-r, --reopen          ask the runtime to reopen the log file first (after rotating it)",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      joinTailAll(argv),
      {
        follow: { type: "boolean", short: "f" },
        tail: { type: "string" },
        timestamps: { type: "boolean", short: "t" },
        since: { type: "string" },
        previous: { type: "boolean", short: "p" },
        reopen: { type: "boolean", short: "r" },
      },
      "cri logs",
    );
    const id = requireOneId(positionals, "logs", "CONTAINER-ID");
    // crictl takes --tail -1 for "all".
    const tail = values.tail === "-1" ? undefined : wholeNumber(values.tail, "--tail", -1);
    const since = values.since !== undefined ? parseSince(values.since) : undefined;
    const notFound = (err: unknown) => notFoundAs(err, `container ${id} not found: see 'berthctl cri ps -a'`);
    if (values.reopen === true) {
      await ctx.cri.runtime.reopenContainerLog({ containerId: id }, { signal: ctx.signal }).catch(notFound);
    }
    const { status } = await ctx.cri.runtime
      .containerStatus({ containerId: id, verbose: false }, { signal: ctx.signal })
      .catch(notFound);
    if (status === undefined)
      throw new BerthError("Unknown", `the runtime has no status for container ${id}`);
    let path = status.logPath;
    if (path === "") {
      throw new BerthError(
        "FailedPrecondition",
        `container ${id} has no log file (its config names no log_path): there is nothing to show`,
      );
    }
    if (values.previous === true) {
      const attempt = status.metadata?.attempt ?? 0;
      if (attempt === 0) {
        throw new BerthError(
          "NotFound",
          `container ${status.metadata?.name ?? id} has no previous attempt: drop --previous`,
        );
      }
      path = previousLogPath(path, attempt);
    }
    let warned = false;
    try {
      await readLog(path, ctx.stdout, ctx.stderr, {
        ...(tail !== undefined && tail >= 0 ? { tail } : {}),
        ...(since !== undefined ? { since } : {}),
        timestamps: values.timestamps === true,
        follow: values.follow === true,
        signal: ctx.signal,
        running: async () => {
          try {
            const r = await ctx.cri.runtime.containerStatus({ containerId: id, verbose: false });
            return r.status?.state === ContainerState.CONTAINER_RUNNING;
          } catch (err) {
            // A runtime restarting is no reason to stop following; a removed container is.
            if (errorKind(err) === "Unavailable") return true;
            if (errorKind(err) === "NotFound") return false;
            throw err;
          }
        },
        onBadLine: () => {
          if (warned) return;
          warned = true;
          ctx.stderr.write(`berthctl: ${path} has lines not in CRI log format: they are skipped\n`);
        },
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") {
        throw new BerthError(
          "NotFound",
          `the log file ${path} of container ${id} does not exist: it has not written anything yet, or the file was removed`,
        );
      }
      if (code === "EACCES") {
        throw new BerthError("FailedPrecondition", `no permission to read ${path}: run as root`);
      }
      throw err;
    }
  },
});
