// berthctl's own streams and terminal joined to an exec or attach session on the runtime's
// streaming server (the URL from Exec or Attach): output copied out with back-pressure,
// stdin copied in (its end half-closes the remote stdin), with a terminal the local one in
// raw mode while it carries keystrokes and its size sent at the start and on each change,
// and the terminal restored however the session ends.

import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { BerthError, errorKind } from "@berth/client";
import { RemoteCommand } from "@berth/client/streaming/remote-command-client";
import type { RemoteCommandResult } from "@berth/client/streaming/status";
import { UpgradeRefusedError } from "@berth/client/streaming/upgrade";
import { type Output, UsageError } from "../../command.js";
import { runtimeDetails } from "../../cri-client.js";
import { type CriContext, notFoundAs } from "./context.js";

/** After stdin ends, an attach stays until the container's output has been quiet this long… */
const DETACH_QUIET_MS = 1_000;
/** …or this long at most. */
const DETACH_MAX_MS = 5_000;

export interface SessionRequest {
  url: string;
  /** -i: berthctl's stdin goes to the remote stdin. */
  stdin: boolean;
  /** -t: the remote process has a terminal. */
  tty: boolean;
  /** Attach: leave once berthctl's stdin has ended, rather than when the container exits. */
  detachOnStdinEnd: boolean;
}

export type SessionOutcome =
  | RemoteCommandResult
  | { kind: "detached" }
  | { kind: "interrupted"; signal: string };

/** A Writable onto a command's Output, waiting for "drain" where the Output has it. */
export function outputStream(out: Output, onWrite: () => void = () => {}): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      onWrite();
      if (out.write(chunk) === false && out.once !== undefined) out.once("drain", () => callback());
      else callback();
    },
  });
}

/** The size of the terminal on berthctl's stdout, when there is one. */
export function terminalSize(out: Output): { width: number; height: number } | undefined {
  const width = out.columns ?? 0;
  const height = out.rows ?? 0;
  return out.isTTY === true && width > 0 && height > 0 ? { width, height } : undefined;
}

/** Exec's or Attach's failure for container `id`, saying where to look. */
export function containerCallFailure(err: unknown, id: string): never {
  if (errorKind(err) === "FailedPrecondition") {
    throw new BerthError("FailedPrecondition", `${runtimeDetails(err)}: see 'berthctl cri ps -a'`);
  }
  return notFoundAs(err, `container ${id} not found: see 'berthctl cri ps'`);
}

/** "Internal error occurred: x" → "x": the runtime's words without the API's framing. */
export function withoutPrefix(message: string): string {
  return message.replace(/^Internal error occurred: /, "");
}

/** A failure to reach or upgrade the streaming server, with what to do about it. */
export function streamingFailure(err: unknown): unknown {
  if (!(err instanceof BerthError)) return err;
  let next = "check the runtime's log";
  if (err instanceof UpgradeRefusedError && err.status === 404) {
    next = "its URLs are single-use and expire within a minute: run the command again";
  } else if (errorKind(err) === "Unavailable") {
    next = "the runtime's streaming server (berth-cri's streaming.address) must be reachable from here";
  }
  return new BerthError(err.kind, `${err.message}: ${next}`, { cause: err });
}

/** Runs the session until the remote command ends, berthctl detaches, or a signal stops it. */
export async function runSession(ctx: CriContext, request: SessionRequest): Promise<SessionOutcome> {
  const input = request.stdin ? ctx.stdin : undefined;
  if (request.stdin && input === undefined) {
    throw new UsageError("-i needs a standard input: run berthctl with one, or leave out -i");
  }
  let lastOutput = Date.now();
  const noteOutput = () => {
    lastOutput = Date.now();
  };
  const cleanups: Array<() => void> = [];
  try {
    // Keystrokes pass through as they are (Ctrl-C included) only when they go somewhere.
    if (request.tty && input?.isTTY === true && input.setRawMode !== undefined) {
      input.setRawMode(true);
      cleanups.push(() => input.setRawMode?.(false));
    }
    if (input !== undefined) cleanups.push(() => input.pause());
    const session = await RemoteCommand.open(
      request.url,
      {
        ...(input !== undefined ? { stdin: input } : {}),
        stdout: outputStream(ctx.stdout, noteOutput),
        ...(request.tty ? {} : { stderr: outputStream(ctx.stderr, noteOutput) }),
        tty: request.tty,
      },
      { signal: ctx.signal },
    ).catch((err) => {
      throw ctx.signal.aborted ? err : streamingFailure(err);
    });
    cleanups.push(() => session.close());
    if (request.tty) {
      const resize = () => {
        const size = terminalSize(ctx.stdout);
        if (size !== undefined) session.resize(size);
      };
      resize();
      if (ctx.signals !== undefined) cleanups.push(ctx.signals.onResize(resize));
    }
    const interrupted = new Promise<SessionOutcome>((resolve) => {
      const onAbort = () => resolve({ kind: "interrupted", signal: String(ctx.signal.reason) });
      if (ctx.signal.aborted) onAbort();
      ctx.signal.addEventListener("abort", onAbort, { once: true });
      cleanups.push(() => ctx.signal.removeEventListener("abort", onAbort));
    });
    const detached = request.detachOnStdinEnd
      ? session.stdinEnded.then(async (): Promise<SessionOutcome> => {
          // The container's answer to the last input comes through its log a moment later:
          // wait for a pause in the output.
          const ended = Date.now();
          const quietSince = () => Date.now() - Math.max(lastOutput, ended);
          while (quietSince() < DETACH_QUIET_MS && Date.now() - ended < DETACH_MAX_MS) {
            await sleep(100);
          }
          return { kind: "detached" };
        })
      : new Promise<SessionOutcome>(() => {});
    return await Promise.race([session.result, interrupted, detached]);
  } finally {
    for (const cleanup of cleanups.reverse()) cleanup();
  }
}
