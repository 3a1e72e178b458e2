// The client's end of an exec or attach, over SPDY or WebSocket, behind one shape: stdin
// to read, stdout and stderr to write, terminal sizes as they come, a signal for the
// client going away, and finish() to report how the command ended and close.
//
// SPDY (X-Stream-Protocol-Version): one stream per `streamtype` header (error, stdin,
// stdout, stderr, resize); the server waits, bounded, for all the streams the request
// implies. v2 adds nothing the server sees, v3 adds the resize stream, v4 makes the error
// stream a JSON metav1.Status. WebSocket (subprotocol): channels 0 stdin, 1 stdout,
// 2 stderr, 3 error, 4 resize; v4 and v5 carry the JSON status, v5 lets the client close
// stdin.

import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Readable, Writable } from "node:stream";
import { SpdySession, type SpdyStream } from "@berth/client/streaming/spdy/session";
import type { TerminalSize } from "@berth/client/streaming/terminal-size";
import { WebSocketChannels } from "./channels.js";
import { rejectUpgrade } from "./http.js";
import { type RemoteCommandResult, errorStreamPayload } from "./status.js";
import { acceptWebSocket, isWebSocketRequest } from "./websocket.js";

export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

export type { TerminalSize };

export interface RemoteCommandStreams {
  readonly protocol: string;
  readonly stdin: Readable | undefined;
  readonly stdout: Writable | undefined;
  readonly stderr: Writable | undefined;
  /** The client can send terminal sizes (SPDY v3 and later, WebSocket). */
  readonly resizable: boolean;
  /** Calls `listener` with the latest terminal size the client sent, then with every new one. */
  onResize(listener: (size: TerminalSize) => void): void;
  /** Aborted when the client goes away before finish(). */
  readonly gone: AbortSignal;
  /** Reports the result on the error stream and closes the connection. */
  finish(result: RemoteCommandResult): Promise<void>;
}

export interface UpgradeTimeouts {
  idleTimeoutMs: number;
  streamCreationTimeoutMs: number;
}

/** Exec and attach over SPDY, newest first. */
export const SPDY_REMOTE_COMMAND_PROTOCOLS = [
  "v4.channel.k8s.io",
  "v3.channel.k8s.io",
  "v2.channel.k8s.io",
  "channel.k8s.io",
] as const;

/** Exec and attach over WebSocket ("" is a client that asks for no subprotocol). */
export const WEBSOCKET_REMOTE_COMMAND_PROTOCOLS = [
  "v5.channel.k8s.io",
  "v4.channel.k8s.io",
  "v4.base64.channel.k8s.io",
  "channel.k8s.io",
  "base64.channel.k8s.io",
  "",
] as const;

export const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4 } as const;

const PROTOCOL_HEADER = "X-Stream-Protocol-Version";

/**
 * The client's X-Stream-Protocol-Version values, in its order; the first one the server
 * speaks wins. A client that names none gets the first protocol, channel.k8s.io, as old
 * kubelets did. `undefined`: nothing in common (the caller answers 403).
 */
export function negotiateStreamProtocol(
  req: IncomingMessage,
  supported: readonly string[],
): string | undefined {
  const raw = req.headers[PROTOCOL_HEADER.toLowerCase()];
  const offered = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw])
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "");
  if (offered.length === 0) return "";
  return offered.find((p) => supported.includes(p));
}

/** Checks SPDY upgrade headers and negotiates; writes 101 (or the error) itself. */
export function acceptSpdy(
  req: IncomingMessage,
  socket: Socket,
  supported: readonly string[],
): string | undefined {
  const connection = String(req.headers.connection ?? "").toLowerCase();
  const upgrade = String(req.headers.upgrade ?? "").toLowerCase();
  if (!connection.includes("upgrade") || !upgrade.includes("spdy/3.1")) {
    rejectUpgrade(
      socket,
      400,
      "unable to upgrade: missing upgrade headers in request (Connection: Upgrade, Upgrade: SPDY/3.1)",
    );
    return undefined;
  }
  const protocol = negotiateStreamProtocol(req, supported);
  if (protocol === undefined) {
    rejectUpgrade(
      socket,
      403,
      `unable to upgrade: unable to negotiate protocol: server accepts ${supported.join(", ")}`,
      { "X-Accepted-Stream-Protocol-Versions": [...supported] },
    );
    return undefined;
  }
  socket.write(
    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n" +
      (protocol === "" ? "" : `${PROTOCOL_HEADER}: ${protocol}\r\n`) +
      "\r\n",
  );
  return protocol;
}

/**
 * Upgrades the request and waits for the streams `options` imply. Returns undefined when
 * the upgrade failed or the client did not open its streams in time (answered or closed).
 */
export function openRemoteCommand(
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  options: StreamOptions,
  timeouts: UpgradeTimeouts,
): Promise<RemoteCommandStreams | undefined> {
  if (isWebSocketRequest(req)) return Promise.resolve(openWebSocket(req, socket, head, options, timeouts));
  return openSpdy(req, socket, head, options, timeouts);
}

/** Splits a byte stream of concatenated JSON objects (kubectl's resize messages). */
export class JsonObjectSplitter {
  #text = "";
  #depth = 0;
  #inString = false;
  #escaped = false;
  #start = 0;
  #scanned = 0;

  push(chunk: string): unknown[] {
    this.#text += chunk;
    const out: unknown[] = [];
    for (let i = this.#scanned; i < this.#text.length; i++) {
      const c = this.#text[i];
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (c === "\\") this.#escaped = true;
        else if (c === '"') this.#inString = false;
        continue;
      }
      if (c === '"') this.#inString = true;
      else if (c === "{") {
        if (this.#depth === 0) this.#start = i;
        this.#depth++;
      } else if (c === "}" && this.#depth > 0) {
        this.#depth--;
        if (this.#depth === 0) {
          try {
            out.push(JSON.parse(this.#text.slice(this.#start, i + 1)));
          } catch {
            // not JSON after all: skipped, as a decoder error would end resizing
          }
        }
      }
    }
    if (this.#depth === 0 || this.#text.length - this.#start > 64 * 1024) {
      // Between objects (or an object too long to be a size): start afresh.
      this.#text = "";
      this.#scanned = 0;
      this.#depth = 0;
      this.#inString = false;
      this.#escaped = false;
    } else {
      this.#text = this.#text.slice(this.#start);
      this.#scanned = this.#text.length;
      this.#start = 0;
    }
    return out;
  }
}

function toTerminalSize(v: unknown): TerminalSize | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  // Go's JSON decoder matches field names case-insensitively: {"Width":…} or {"width":…}.
  const fields = new Map(Object.entries(v).map(([k, val]) => [k.toLowerCase(), val]));
  const width = fields.get("width");
  const height = fields.get("height");
  if (typeof width !== "number" || typeof height !== "number") return undefined;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) return undefined;
  if (width > 0xffff || height > 0xffff) return undefined;
  return { width, height };
}

/**
 * Terminal sizes from a stream of JSON objects. The client sends the first one as soon as
 * its streams are up, before anyone listens: a listener gets the latest size at once.
 */
class ResizeWatch {
  readonly #listeners: Array<(s: TerminalSize) => void> = [];
  #latest: TerminalSize | undefined;

  constructor(stream: Readable | undefined) {
    if (stream === undefined) return;
    const splitter = new JsonObjectSplitter();
    stream.setEncoding("utf8");
    stream.on("data", (text: string) => {
      for (const v of splitter.push(text)) {
        const size = toTerminalSize(v);
        if (size === undefined) continue;
        this.#latest = size;
        for (const l of this.#listeners) l(size);
      }
    });
  }

  listen(listener: (size: TerminalSize) => void): void {
    this.#listeners.push(listener);
    if (this.#latest !== undefined) listener(this.#latest);
  }
}

function openSpdy(
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  options: StreamOptions,
  timeouts: UpgradeTimeouts,
): Promise<RemoteCommandStreams | undefined> {
  const protocol = acceptSpdy(req, socket, SPDY_REMOTE_COMMAND_PROTOCOLS);
  if (protocol === undefined) return Promise.resolve(undefined);
  const version = protocol === "" ? "channel.k8s.io" : protocol;
  const resizable = version === "v3.channel.k8s.io" || version === "v4.channel.k8s.io";
  const expected = new Set<string>(["error"]);
  if (options.stdin) expected.add("stdin");
  if (options.stdout) expected.add("stdout");
  if (options.stderr) expected.add("stderr");
  if (options.tty && resizable) expected.add("resize");

  const gone = new AbortController();
  let finished = false;
  const streams = new Map<string, SpdyStream>();
  return new Promise((resolve) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      session.close();
      resolve(undefined);
    }, timeouts.streamCreationTimeoutMs);
    const session = new SpdySession(socket, head, {
      role: "server",
      idleTimeoutMs: timeouts.idleTimeoutMs,
      maxStreams: 16,
      onStream: (stream) => {
        const type = stream.header("streamtype") ?? "";
        if (settled || !expected.has(type) || streams.has(type)) {
          // Not one the request asked for (or a second of a kind): accepted, then ignored.
          stream.accept();
          stream.resume();
          return;
        }
        stream.accept();
        streams.set(type, stream);
        if (streams.size < expected.size) return;
        settled = true;
        clearTimeout(timer);
        resolve(ready());
      },
      onClose: () => {
        if (!finished) gone.abort();
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          resolve(undefined);
        }
      },
    });

    const ready = (): RemoteCommandStreams => {
      const errorStream = streams.get("error")!;
      errorStream.resume();
      // v1 closed stdin at once (a quirk of early kubelets kept for their clients).
      if (version === "channel.k8s.io") streams.get("stdin")?.end();
      const resizes = new ResizeWatch(streams.get("resize"));
      return {
        protocol: version,
        stdin: streams.get("stdin"),
        stdout: streams.get("stdout"),
        stderr: streams.get("stderr"),
        resizable: streams.has("resize"),
        onResize: (l) => resizes.listen(l),
        gone: gone.signal,
        finish: async (result) => {
          if (finished || session.closed) return;
          finished = true;
          const payload = errorStreamPayload(result, version === "v4.channel.k8s.io");
          await new Promise<void>((done) => errorStream.end(payload ?? Buffer.alloc(0), () => done()));
          session.close();
        },
      };
    };
  });
}

function openWebSocket(
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  options: StreamOptions,
  timeouts: UpgradeTimeouts,
): RemoteCommandStreams | undefined {
  const accepted = acceptWebSocket(req, socket, WEBSOCKET_REMOTE_COMMAND_PROTOCOLS);
  if (accepted === undefined) return undefined;
  const { protocol } = accepted;
  const gone = new AbortController();
  let finished = false;
  const readable: number[] = [CHANNEL.resize];
  if (options.stdin) readable.push(CHANNEL.stdin);
  const mux = new WebSocketChannels(socket, head, {
    codec: { base64: protocol.includes("base64"), closeSignal: protocol === "v5.channel.k8s.io" },
    readable,
    idleTimeoutMs: timeouts.idleTimeoutMs,
    onClose: () => {
      if (!finished) gone.abort();
    },
  });
  // An empty message on the first channel we write to tells the client the session is up.
  const first = options.stdout ? CHANNEL.stdout : options.stderr ? CHANNEL.stderr : CHANNEL.error;
  mux.send(first, Buffer.alloc(0)).catch(() => undefined);
  const resizes = new ResizeWatch(mux.reader(CHANNEL.resize));
  return {
    protocol,
    stdin: options.stdin ? mux.reader(CHANNEL.stdin) : undefined,
    stdout: options.stdout ? mux.writer(CHANNEL.stdout) : undefined,
    stderr: options.stderr ? mux.writer(CHANNEL.stderr) : undefined,
    resizable: true,
    onResize: (l) => resizes.listen(l),
    gone: gone.signal,
    finish: async (result) => {
      if (finished || mux.ws.closed) return;
      finished = true;
      const json = protocol.startsWith("v4.") || protocol.startsWith("v5.");
      const payload = errorStreamPayload(result, json);
      if (payload !== undefined) await mux.send(CHANNEL.error, payload).catch(() => undefined);
      mux.ws.close();
    },
  };
}
