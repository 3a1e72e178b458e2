import net from "node:net";
import { Request, Response } from "@berth/api/ttrpc/ttrpc";
import type { MessageOf, PartialMessageOf, ServiceDefinition, UnaryMethodKey } from "./definition.js";
import { type FrameHeader, FrameParser, MessageType, encodeFrame, oversizedError } from "./frame.js";
import { type MetadataInit, mergeMetadata, metadataToWire } from "./metadata.js";
import { Code, TtrpcError } from "./status.js";

export interface CallOptions {
  metadata?: MetadataInit;
  /** Sent to the server as the request's timeout; the call fails with DEADLINE_EXCEEDED when it passes. */
  timeoutMs?: number;
  /** Aborting fails the call with CANCELLED; the server is not told (ttrpc has no cancel frame). */
  signal?: AbortSignal;
}

export interface ConnectOptions {
  signal?: AbortSignal;
}

interface PendingCall {
  resolve(payload: Buffer): void;
  reject(err: TtrpcError): void;
}

const MAX_STREAM_ID = 0xffffffff;

/** One ttrpc connection; calls share it, each on its own odd stream id. */
export class TtrpcClient {
  readonly #socket: net.Socket;
  readonly #pending = new Map<number, PendingCall>();
  #nextStreamId = 1;
  #closedError: TtrpcError | undefined;
  #socketError: Error | undefined;
  /** Resolves once the connection is gone, whether closed here or by the peer. */
  readonly closed: Promise<void>;

  /** Connects to a unix socket; fails with UNAVAILABLE (the system error as cause) or CANCELLED. */
  static connect(path: string, options: ConnectOptions = {}): Promise<TtrpcClient> {
    const { signal } = options;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(cancelled(signal.reason));
        return;
      }
      const socket = net.createConnection({ path });
      const onAbort = () => {
        socket.destroy();
        reject(cancelled(signal?.reason));
      };
      const onError = (err: Error) => {
        signal?.removeEventListener("abort", onAbort);
        reject(new TtrpcError(Code.UNAVAILABLE, `ttrpc: connect ${path}: ${err.message}`, { cause: err }));
      };
      socket.once("error", onError);
      socket.once("connect", () => {
        socket.off("error", onError);
        signal?.removeEventListener("abort", onAbort);
        resolve(new TtrpcClient(socket));
      });
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Wraps a connected socket. */
  constructor(socket: net.Socket) {
    this.#socket = socket;
    const parser = new FrameParser({
      onFrame: (header, payload) => this.#onFrame(header, payload),
      onOversized: (header) => this.#pending.get(header.streamId)?.reject(oversizedError(header.length)),
    });
    socket.on("data", (chunk: Buffer) => parser.push(chunk));
    socket.on("error", (err) => {
      this.#socketError ??= err;
    });
    this.closed = new Promise((resolve) => {
      socket.once("close", () => {
        this.#fail(
          new TtrpcError(Code.UNAVAILABLE, "ttrpc: connection closed", { cause: this.#socketError }),
        );
        resolve();
      });
    });
  }

  get isClosed(): boolean {
    return this.#closedError !== undefined;
  }

  /** A unary call with an encoded request; resolves with the encoded response or rejects with a TtrpcError. */
  call(service: string, method: string, payload: Uint8Array, options: CallOptions = {}): Promise<Buffer> {
    const { signal, timeoutMs } = options;
    if (this.#closedError !== undefined) return Promise.reject(this.#closedError);
    if (signal?.aborted) return Promise.reject(cancelled(signal.reason));
    const streamId = this.#nextStreamId;
    if (streamId > MAX_STREAM_ID) {
      return Promise.reject(new TtrpcError(Code.UNAVAILABLE, "ttrpc: stream ids exhausted, reconnect"));
    }

    let frame: Buffer;
    try {
      const request = Request.encode({
        service,
        method,
        payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
        timeoutNano: timeoutMs === undefined ? 0 : Math.max(1, Math.round(timeoutMs * 1e6)),
        metadata: options.metadata === undefined ? [] : metadataToWire(options.metadata),
      }).finish();
      frame = encodeFrame(streamId, MessageType.REQUEST, 0, request);
    } catch (err) {
      return Promise.reject(err);
    }
    this.#nextStreamId += 2;

    return new Promise<Buffer>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => pending.reject(cancelled(signal?.reason));
      const settle = () => {
        this.#pending.delete(streamId);
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const pending: PendingCall = {
        resolve: (response) => {
          settle();
          resolve(response);
        },
        reject: (err) => {
          settle();
          reject(err);
        },
      };
      this.#pending.set(streamId, pending);
      if (timeoutMs !== undefined) {
        timer = setTimeout(
          () => pending.reject(new TtrpcError(Code.DEADLINE_EXCEEDED, "context deadline exceeded")),
          timeoutMs,
        );
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#socket.write(frame);
    });
  }

  /** Closes the connection; calls in flight fail with UNAVAILABLE. */
  close(): void {
    this.#fail(new TtrpcError(Code.UNAVAILABLE, "ttrpc: client closed"));
    this.#socket.destroy();
  }

  #fail(err: TtrpcError): void {
    if (this.#closedError !== undefined) return;
    this.#closedError = err;
    for (const pending of [...this.#pending.values()]) pending.reject(err);
  }

  #onFrame(header: FrameHeader, payload: Buffer): void {
    const pending = this.#pending.get(header.streamId);
    if (pending === undefined) return; // a call that already timed out or was cancelled
    if (header.type !== MessageType.RESPONSE) {
      pending.reject(
        new TtrpcError(Code.INTERNAL, `ttrpc: unexpected message type ${header.type} on a unary call`),
      );
      return;
    }
    let response: Response;
    try {
      response = Response.decode(payload);
    } catch (err) {
      pending.reject(new TtrpcError(Code.INTERNAL, `ttrpc: malformed response: ${(err as Error).message}`));
      return;
    }
    if (response.status !== undefined && response.status.code !== Code.OK) {
      pending.reject(TtrpcError.fromStatus(response.status));
    } else {
      pending.resolve(response.payload);
    }
  }
}

function cancelled(reason: unknown): TtrpcError {
  return new TtrpcError(Code.CANCELLED, "ttrpc: call cancelled", { cause: reason });
}

/** A typed client: one method per unary method of the definition, taking a partial request message. */
export type TtrpcServiceClient<D extends ServiceDefinition> = {
  [K in UnaryMethodKey<D>]: (
    request: PartialMessageOf<D["methods"][K]["requestType"]>,
    options?: CallOptions,
  ) => Promise<MessageOf<D["methods"][K]["responseType"]>>;
};

export interface ServiceClientOptions {
  /** Metadata sent with every call, e.g. `namespaceMetadata("k8s.io")`; a call's own metadata wins per key. */
  defaultMetadata?: MetadataInit;
}

export function createTtrpcClient<D extends ServiceDefinition>(
  definition: D,
  client: TtrpcClient,
  options: ServiceClientOptions = {},
): TtrpcServiceClient<D> {
  const { defaultMetadata } = options;
  const methods: Record<string, (request: unknown, options?: CallOptions) => Promise<unknown>> = {};
  for (const [key, method] of Object.entries(definition.methods)) {
    if (method.requestStream || method.responseStream) continue;
    const { requestType, responseType } = method;
    methods[key] = async (request, callOptions = {}) => {
      const payload = requestType.encode(requestType.fromPartial(request ?? {})).finish();
      const metadata =
        defaultMetadata === undefined
          ? callOptions.metadata
          : mergeMetadata(defaultMetadata, callOptions.metadata);
      const response = await client.call(definition.fullName, method.name, payload, {
        ...callOptions,
        metadata,
      });
      try {
        return responseType.decode(response);
      } catch (err) {
        throw new TtrpcError(
          Code.INTERNAL,
          `ttrpc: malformed ${method.name} response: ${(err as Error).message}`,
        );
      }
    };
  }
  return methods as TtrpcServiceClient<D>;
}
