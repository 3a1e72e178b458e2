// The client's end of an exec or attach, as kubectl and crictl run it: the URL from Exec or
// Attach upgraded to SPDY/3.1 with protocol v4.channel.k8s.io, one stream per `streamtype`
// (error, then stdin, stdout, stderr, resize, each only when asked for), the caller's
// streams copied to and from them, terminal sizes sent as JSON, and how the command ended
// read from the error stream as a metav1.Status. SPDY rather than a WebSocket because every
// CRI runtime's streaming server speaks it.

import type { Socket } from "node:net";
import type { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { SpdySession, type SpdyStream, readToEnd } from "./spdy/session.js";
import { type RemoteCommandResult, resultFromErrorStream } from "./status.js";
import { type TerminalSize, encodeTerminalSize } from "./terminal-size.js";
import { upgradeToSpdy } from "./upgrade.js";

export const REMOTE_COMMAND_PROTOCOL = "v4.channel.k8s.io";
/** How long output may trail the command's status. */
const OUTPUT_DRAIN_MS = 2_000;

/**
 * Which streams the session has: they must match the stdin, stdout, stderr and tty fields
 * of the Exec or Attach request the URL came from, since the server waits for those.
 */
export interface RemoteCommandOptions {
  /** Copied to the remote stdin; its end half-closes it (the process reads end-of-file). */
  stdin?: NodeJS.ReadableStream;
  stdout?: Writable;
  /** Not with a terminal, which carries both outputs on stdout. */
  stderr?: Writable;
  tty: boolean;
}

/** An exec or attach session in progress. */
export class RemoteCommand {
  readonly #session: SpdySession;
  readonly #stdin: SpdyStream | undefined;
  readonly #resize: SpdyStream | undefined;
  readonly #input: NodeJS.ReadableStream | undefined;
  /** How the command ended, once its output has been copied; the connection is closed by then. */
  readonly result: Promise<RemoteCommandResult>;
  /** Resolves once the caller's stdin has ended and the remote stdin is half-closed. */
  readonly stdinEnded: Promise<void>;

  /** Upgrades `url` and opens the session's streams. */
  static async open(
    url: string,
    options: RemoteCommandOptions,
    call: { signal?: AbortSignal } = {},
  ): Promise<RemoteCommand> {
    const { socket, head } = await upgradeToSpdy(url, [REMOTE_COMMAND_PROTOCOL], call);
    return new RemoteCommand(socket, head, options);
  }

  /** Runs the session on a connection already upgraded to SPDY/3.1 (v4.channel.k8s.io). */
  constructor(socket: Socket, head: Buffer, options: RemoteCommandOptions) {
    this.#session = new SpdySession(socket, head, { role: "client" });
    const open = (type: string) => this.#session.openStream({ streamType: type });
    const error = open("error");
    // Nothing is ever written on the error stream by a client.
    error.end();
    this.#stdin = options.stdin !== undefined ? open("stdin") : undefined;
    const stdout = options.stdout !== undefined ? open("stdout") : undefined;
    const stderr = options.stderr !== undefined && !options.tty ? open("stderr") : undefined;
    this.#resize = options.tty ? open("resize") : undefined;

    this.#input = options.stdin;
    const remoteStdin = this.#stdin;
    this.stdinEnded =
      remoteStdin === undefined
        ? new Promise(() => {})
        : new Promise((resolve) => remoteStdin.once("finish", () => resolve()));
    if (remoteStdin !== undefined) options.stdin?.pipe(remoteStdin);
    const outputs = [copyOut(stdout, options.stdout), copyOut(stderr, options.stderr)];

    const status = readToEnd(error);
    this.result = (async () => {
      const payload = await status;
      const r: RemoteCommandResult =
        payload === undefined
          ? {
              kind: "error",
              message: "the connection to the streaming server closed before the command's status came",
            }
          : resultFromErrorStream(payload);
      await Promise.race([Promise.all(outputs), sleep(OUTPUT_DRAIN_MS, undefined, { ref: false })]);
      this.close();
      return r;
    })();
  }

  /** Sends the terminal's size (with a terminal only). */
  resize(size: TerminalSize): void {
    const stream = this.#resize;
    if (stream === undefined || stream.destroyed || stream.writableEnded) return;
    stream.write(encodeTerminalSize(size));
  }

  /** Leaves the session (the server ends an exec's process, an attach leaves the container be). */
  close(): void {
    if (this.#stdin !== undefined) this.#input?.unpipe(this.#stdin);
    this.#session.close();
  }
}

/** Copies a stream to `to` without ending it; settles when the stream ends or closes. */
function copyOut(from: SpdyStream | undefined, to: Writable | undefined): Promise<void> {
  if (from === undefined || to === undefined) return Promise.resolve();
  from.pipe(to, { end: false });
  return new Promise((resolve) => {
    from.once("end", () => resolve());
    from.once("close", () => resolve());
  });
}
