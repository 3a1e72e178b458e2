import { chmod, lstat, unlink } from "node:fs/promises";
import net from "node:net";
import type { Status } from "@berth/api/google/rpc/status";
import { Request, Response } from "@berth/api/ttrpc/ttrpc";
import type {
  MessageOf,
  MethodDefinition,
  PartialMessageOf,
  ServiceDefinition,
  UnaryMethodKey,
} from "./definition.js";
import {
  type FrameHeader,
  FrameParser,
  MAX_PAYLOAD_LENGTH,
  MessageType,
  encodeFrame,
  oversizedError,
} from "./frame.js";
import { type Metadata, NAMESPACE_METADATA_KEY, metadataFromWire } from "./metadata.js";
import { Code, TtrpcError, statusFromError } from "./status.js";

/** What a handler learns about the call besides its request. */
export interface CallContext {
  /** Fully qualified service name, e.g. "containerd.task.v2.Task". */
  readonly service: string;
  readonly method: string;
  readonly metadata: Metadata;
  /** The request's deadline in Date.now() milliseconds, when the client sent a timeout. */
  readonly deadline: number | undefined;
  /** The containerd namespace from the `containerd-namespace-ttrpc` metadata, if present. */
  readonly namespace: string | undefined;
  /**
   * Aborts at the deadline (reason: a DEADLINE_EXCEEDED TtrpcError) or when the connection or the
   * server goes away (CANCELLED). Created on first use.
   */
  readonly signal: AbortSignal;
}

/** An object of handlers keyed like the definition's methods (camelCase). Returning nothing sends an empty message. */
export type ServiceImplementation<D extends ServiceDefinition> = {
  [K in UnaryMethodKey<D>]: (
    request: MessageOf<D["methods"][K]["requestType"]>,
    ctx: CallContext,
  ) => Promise<PartialMessageOf<D["methods"][K]["responseType"]> | undefined>;
};

export interface TtrpcServerOptions {
  /** Errors the server cannot answer on a call: listener accept failures, connection resets. Ignored by default. */
  onError?: (err: Error) => void;
}

interface RegisteredMethod {
  definition: MethodDefinition;
  handler: (request: unknown, ctx: CallContext) => Promise<unknown>;
}

const MAX_TIMER_MS = 2 ** 31 - 1;
const EMPTY = Buffer.alloc(0);

export class TtrpcServer {
  readonly #services = new Map<string, Map<string, RegisteredMethod>>();
  readonly #listeners: net.Server[] = [];
  readonly #connections = new Set<ServerConnection>();
  readonly #onError: (err: Error) => void;
  #closing = false;
  #drained: (() => void) | undefined;

  constructor(options: TtrpcServerOptions = {}) {
    this.#onError = options.onError ?? (() => {});
  }

  /** Serves a service; each unary method of the definition needs a handler. */
  register<D extends ServiceDefinition>(definition: D, implementation: ServiceImplementation<D>): this {
    if (this.#services.has(definition.fullName)) {
      throw new Error(`ttrpc: service ${definition.fullName} registered twice`);
    }
    const handlers = implementation as unknown as Record<string, unknown>;
    const methods = new Map<string, RegisteredMethod>();
    for (const [key, method] of Object.entries(definition.methods)) {
      if (method.requestStream || method.responseStream) continue;
      const handler = handlers[key];
      if (typeof handler !== "function") {
        throw new TypeError(`ttrpc: no handler for ${definition.fullName}/${method.name} (key "${key}")`);
      }
      methods.set(method.name, { definition: method, handler: handler.bind(implementation) });
    }
    this.#services.set(definition.fullName, methods);
    return this;
  }

  /**
   * Listens on a unix socket path (a stale socket file is removed first, the socket is made 0660)
   * or on an inherited listening descriptor, as a shim does with the socket its parent created.
   */
  async listen(target: string | { fd: number }): Promise<void> {
    if (this.#closing) throw new Error("ttrpc: server is closed");
    if (typeof target === "string") {
      if (Buffer.byteLength(target) > 107)
        throw new Error(`ttrpc: socket path longer than 107 bytes: ${target}`);
      await removeStaleSocket(target);
    }
    const listener = net.createServer((socket) => this.serveConnection(socket));
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen(typeof target === "string" ? { path: target } : target, () => {
        listener.off("error", reject);
        resolve();
      });
    });
    if (this.#closing) {
      listener.close(); // close() or shutdown() ran while we were binding
      throw new Error("ttrpc: server is closed");
    }
    listener.on("error", this.#onError);
    this.#listeners.push(listener);
    if (typeof target === "string") await chmod(target, 0o660);
  }

  /** Serves requests arriving on an already connected socket. */
  serveConnection(socket: net.Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    const connection: ServerConnection = new ServerConnection(socket, {
      lookup: (service, method) => this.#lookup(service, method),
      onError: this.#onError,
      onClose: () => {
        this.#connections.delete(connection);
        if (this.#connections.size === 0) this.#drained?.();
      },
    });
    this.#connections.add(connection);
  }

  /** Stops listening, lets calls in flight finish and send their responses, then closes every connection. */
  close(): Promise<void> {
    this.#stopListening();
    if (this.#connections.size === 0) return Promise.resolve();
    const drained = new Promise<void>((resolve) => {
      const previous = this.#drained;
      this.#drained = () => {
        previous?.();
        resolve();
      };
    });
    for (const connection of this.#connections) connection.drain();
    return drained;
  }

  /** Stops at once: closes listeners and connections and aborts every handler's signal. */
  shutdown(): void {
    this.#stopListening();
    for (const connection of this.#connections) connection.destroy();
  }

  #lookup(service: string, method: string): RegisteredMethod | TtrpcError {
    const methods = this.#services.get(service);
    if (methods === undefined) return new TtrpcError(Code.UNIMPLEMENTED, `service ${service}`);
    return methods.get(method) ?? new TtrpcError(Code.UNIMPLEMENTED, `method ${method}`);
  }

  #stopListening(): void {
    this.#closing = true;
    for (const listener of this.#listeners.splice(0)) listener.close();
  }
}

async function removeStaleSocket(path: string): Promise<void> {
  try {
    const stat = await lstat(path);
    if (!stat.isSocket()) throw new Error(`ttrpc: ${path} exists and is not a socket`);
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

interface ConnectionHost {
  lookup(service: string, method: string): RegisteredMethod | TtrpcError;
  onError(err: Error): void;
  onClose(): void;
}

class ServerConnection {
  readonly #host: ConnectionHost;
  readonly #socket: net.Socket;
  readonly #calls = new Map<number, ServerCall>();
  #lastStreamId = 0;
  #draining = false;

  constructor(socket: net.Socket, host: ConnectionHost) {
    this.#host = host;
    this.#socket = socket;
    const parser = new FrameParser({
      onFrame: (header, payload) => this.#onFrame(header, payload),
      onOversized: (header) => this.#sendStatus(header.streamId, oversizedError(header.length).toStatus()),
    });
    socket.on("data", (chunk: Buffer) => parser.push(chunk));
    socket.on("error", (err) => host.onError(err));
    socket.once("close", () => {
      this.#cancelCalls("ttrpc: connection closed");
      host.onClose();
    });
  }

  drain(): void {
    this.#draining = true;
    if (this.#calls.size === 0) this.#socket.end();
  }

  destroy(): void {
    this.#cancelCalls("ttrpc: server shut down");
    this.#socket.destroy();
  }

  #cancelCalls(message: string): void {
    if (this.#calls.size === 0) return;
    const reason = new TtrpcError(Code.CANCELLED, message);
    for (const call of this.#calls.values()) call.cancel(reason);
  }

  #onFrame(header: FrameHeader, payload: Buffer): void {
    const { streamId } = header;
    if (streamId % 2 !== 1) {
      this.#sendStatus(streamId, invalid("StreamID must be odd for client initiated streams"));
      return;
    }
    if (header.type === MessageType.DATA) {
      // Only unary calls are served, so no stream is ever open for data.
      this.#sendStatus(streamId, invalid("StreamID is no longer active"));
      return;
    }
    if (header.type !== MessageType.REQUEST) return; // unknown types are ignored, for future protocol versions
    if (streamId <= this.#lastStreamId) {
      this.#sendStatus(streamId, invalid("StreamID cannot be re-used and must increment"));
      return;
    }
    this.#lastStreamId = streamId;

    let request: Request;
    try {
      request = Request.decode(payload);
    } catch (err) {
      this.#sendStatus(streamId, invalid(`unmarshal request error: ${(err as Error).message}`));
      return;
    }
    const method = this.#host.lookup(request.service, request.method);
    if (method instanceof TtrpcError) {
      this.#sendStatus(streamId, method.toStatus());
      return;
    }
    const call = new ServerCall(request);
    this.#calls.set(streamId, call);
    void this.#run(streamId, call, method, request.payload);
  }

  async #run(streamId: number, call: ServerCall, method: RegisteredMethod, payload: Buffer): Promise<void> {
    let response: Response;
    try {
      const { requestType, responseType } = method.definition;
      let request: unknown;
      try {
        request = requestType.decode(payload);
      } catch (err) {
        throw new TtrpcError(Code.INTERNAL, `ttrpc: error unmarshalling payload: ${(err as Error).message}`);
      }
      const result = await method.handler(request, call);
      const bytes = responseType.encode(responseType.fromPartial(result ?? {})).finish();
      response = { status: { code: Code.OK, message: "", details: [] }, payload: asBuffer(bytes) };
    } catch (err) {
      response = { status: call.statusFor(err), payload: EMPTY };
    } finally {
      call.dispose();
      this.#calls.delete(streamId);
    }
    this.#send(streamId, response);
    if (this.#draining && this.#calls.size === 0) this.#socket.end();
  }

  #sendStatus(streamId: number, status: Status): void {
    this.#send(streamId, { status, payload: EMPTY });
  }

  #send(streamId: number, response: Response): void {
    if (!this.#socket.writable) return;
    let bytes = Response.encode(response).finish();
    if (bytes.length > MAX_PAYLOAD_LENGTH) {
      // Tell the caller rather than drop the connection.
      bytes = Response.encode({ status: oversizedError(bytes.length).toStatus(), payload: EMPTY }).finish();
    }
    this.#socket.write(encodeFrame(streamId, MessageType.RESPONSE, 0, bytes));
  }
}

function invalid(message: string): Status {
  return { code: Code.INVALID_ARGUMENT, message, details: [] };
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

class ServerCall implements CallContext {
  readonly service: string;
  readonly method: string;
  readonly metadata: Metadata;
  readonly deadline: number | undefined;
  #controller: AbortController | undefined;
  #timer: NodeJS.Timeout | undefined;
  #cancelled: TtrpcError | undefined;

  constructor(request: Request) {
    this.service = request.service;
    this.method = request.method;
    this.metadata = metadataFromWire(request.metadata);
    this.deadline = request.timeoutNano > 0 ? Date.now() + request.timeoutNano / 1e6 : undefined;
  }

  get namespace(): string | undefined {
    return this.metadata.get(NAMESPACE_METADATA_KEY)?.[0];
  }

  get signal(): AbortSignal {
    if (this.#controller !== undefined) return this.#controller.signal;
    const controller = new AbortController();
    this.#controller = controller;
    if (this.#cancelled !== undefined) {
      controller.abort(this.#cancelled);
    } else if (this.deadline !== undefined) {
      const left = this.deadline - Date.now();
      if (left <= 0) controller.abort(deadlineExceeded());
      // Beyond the longest timer Node can arm (~24 days) the deadline is as good as none.
      else if (left <= MAX_TIMER_MS)
        this.#timer = setTimeout(() => controller.abort(deadlineExceeded()), left);
    }
    return controller.signal;
  }

  cancel(reason: TtrpcError): void {
    if (this.#cancelled !== undefined) return;
    this.#cancelled = reason;
    this.dispose();
    this.#controller?.abort(reason);
  }

  dispose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * The status for a handler failure. When the handler failed after its signal fired, with an
   * abort or an error without a code, the status says why the signal fired.
   */
  statusFor(err: unknown): Status {
    const status = statusFromError(err);
    const signal = this.#controller?.signal;
    if (
      (status.code === Code.UNKNOWN || status.code === Code.CANCELLED) &&
      signal?.aborted &&
      signal.reason instanceof TtrpcError
    ) {
      return signal.reason.toStatus();
    }
    return status;
  }
}

function deadlineExceeded(): TtrpcError {
  return new TtrpcError(Code.DEADLINE_EXCEEDED, "context deadline exceeded");
}
