// berth-cri's streaming server: the HTTP endpoint behind the URLs Exec, Attach and
// PortForward return. Each URL carries a single-use token standing for the CRI request;
// the client (kubelet, the API server, kubectl, crictl) upgrades the connection to SPDY/3.1
// or to a WebSocket and the session runs until the command ends or a side goes away.
// Unknown, expired and reused tokens get 404, as kubelet's server answers.

import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { AttachRequest, ExecRequest, PortForwardRequest } from "@berth/api/cri/runtime/v1/api";
import { errorMessage } from "@berth/client";
import type { Cri } from "../cri.js";
import { within } from "../runtime/exec-process.js";
import { runAttach } from "./attach-session.js";
import { runExec } from "./exec-session.js";
import { rejectUpgrade } from "./http.js";
import { servePortForward } from "./port-forward.js";
import { type RemoteCommandStreams, type UpgradeTimeouts, openRemoteCommand } from "./remote-command.js";
import type { RemoteCommandResult } from "./status.js";
import { TokenCache, type TokenCacheOptions } from "./tokens.js";

export type StreamingRequest =
  | { kind: "exec"; request: ExecRequest }
  | { kind: "attach"; request: AttachRequest }
  | { kind: "portforward"; request: PortForwardRequest };

export interface StreamingServerOptions extends TokenCacheOptions {
  /** host:port to listen on; port 0 picks a free one. */
  address: string;
  /** A session with no traffic for this long is closed (kubelet's default: 4 hours). */
  idleTimeoutMs?: number;
  /** How long a SPDY client has to open the streams its request implies. */
  streamCreationTimeoutMs?: number;
}

const DEFAULT_IDLE_TIMEOUT_MS = 4 * 60 * 60 * 1000;
const DEFAULT_STREAM_CREATION_TIMEOUT_MS = 30_000;
/** How long stop() waits for sessions to clean up after themselves. */
const STOP_WAIT_MS = 15_000;
const ROUTE = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)\/?$/;

/** Splits "host:port" or "[v6]:port". */
export function splitHostPort(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address);
  if (!m) throw new Error(`streaming address ${JSON.stringify(address)}: expected host:port`);
  return { host: m[1] ?? m[2] ?? "", port: Number(m[3]) };
}

export class StreamingServer {
  readonly #cri: Cri;
  readonly #options: StreamingServerOptions;
  readonly #tokens: TokenCache<StreamingRequest>;
  readonly #timeouts: UpgradeTimeouts;
  readonly #server: Server;
  readonly #sessions = new Set<{ close(): void }>();
  /** Exec and attach sessions still running (their processes are cleaned up when they end). */
  readonly #running = new Set<Promise<void>>();
  #baseUrl = "";

  constructor(cri: Cri, options: StreamingServerOptions) {
    this.#cri = cri;
    this.#options = options;
    this.#tokens = new TokenCache(options);
    this.#timeouts = {
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      streamCreationTimeoutMs: options.streamCreationTimeoutMs ?? DEFAULT_STREAM_CREATION_TIMEOUT_MS,
    };
    this.#server = createServer((req, res) => this.#onRequest(req, res));
    this.#server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.#onUpgrade(req, socket, head),
    );
    this.#server.on("clientError", (_err, socket) => socket.destroy());
  }

  /** http://host:port, known once listening. */
  get baseUrl(): string {
    return this.#baseUrl;
  }

  async listen(): Promise<void> {
    const { host, port } = splitHostPort(this.#options.address);
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen({ host, port }, () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
    const addr = this.#server.address() as AddressInfo;
    const shown = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
    this.#baseUrl = `http://${shown}:${addr.port}`;
  }

  /** Mints a token for `request` and returns its URL. */
  url(request: StreamingRequest): string {
    const token = this.#tokens.insert(request);
    return `${this.#baseUrl}/${request.kind}/${token}`;
  }

  /** Stops listening and ends every session (their exec processes are killed). */
  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of [...this.#sessions]) s.close();
    this.#sessions.clear();
    this.#server.closeAllConnections();
    await within(Promise.allSettled([...this.#running]), STOP_WAIT_MS);
    await closed;
  }

  #take(url: string | undefined): StreamingRequest | undefined {
    const path = new URL(url ?? "/", "http://localhost").pathname;
    const m = ROUTE.exec(path);
    if (!m) return undefined;
    const found = this.#tokens.consume(m[2]!);
    return found?.kind === m[1] ? found : undefined;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const found = req.method === "GET" || req.method === "POST" ? this.#take(req.url) : undefined;
    res.setHeader("Content-Type", "text/plain; charset=utf-8");
    if (found === undefined) {
      res.writeHead(404).end("404 page not found\n");
      return;
    }
    res.writeHead(400).end("unable to upgrade: this URL needs an upgrade to SPDY/3.1 or to a WebSocket\n");
  }

  #onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on("error", () => {});
    const found = req.method === "GET" || req.method === "POST" ? this.#take(req.url) : undefined;
    if (found === undefined) {
      rejectUpgrade(socket, 404, "404 page not found");
      return;
    }
    if (found.kind === "portforward") {
      const session = servePortForward(this.#cri, found.request, req, socket, head, this.#timeouts);
      if (session !== undefined) this.#track(session, socket);
      return;
    }
    const running = this.#remoteCommand(found, req, socket, head).catch((err) => {
      this.#cri.log.warn("streaming session failed", { kind: found.kind, error: errorMessage(err) });
      socket.destroy();
    });
    this.#running.add(running);
    running.finally(() => this.#running.delete(running));
  }

  #track(session: { close(): void }, socket: Socket): void {
    this.#sessions.add(session);
    socket.once("close", () => this.#sessions.delete(session));
  }

  async #remoteCommand(
    found: Extract<StreamingRequest, { kind: "exec" | "attach" }>,
    req: IncomingMessage,
    socket: Socket,
    head: Buffer,
  ): Promise<void> {
    const r = found.request;
    const options = { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr && !r.tty, tty: r.tty };
    const tracked = { close: () => socket.destroy() };
    this.#track(tracked, socket);
    const io: RemoteCommandStreams | undefined = await openRemoteCommand(
      req,
      socket,
      head,
      options,
      this.#timeouts,
    );
    if (io === undefined) return;
    let result: RemoteCommandResult;
    if (found.kind === "exec") {
      result = await runExec(
        this.#cri,
        { containerId: r.containerId, cmd: found.request.cmd, tty: r.tty },
        io,
      );
    } else {
      result = await runAttach(this.#cri, r.containerId, io);
    }
    // An exec that ended has reported already (finish counts once); errors and attach report here.
    if (!io.gone.aborted) await io.finish(result);
  }
}
