// The daemons' gRPC server: nice-grpc service definitions and middleware on a grpc-js
// Server, as nice-grpc's own createServer() registers them, but listening on a unix socket
// we own, each connection handed to grpc-js through a connection injector with its request
// headers rewritten so that Node's HTTP/2 accepts any :authority (see http2/authority.ts).
import { chmod } from "node:fs/promises";
import { createRequire } from "node:module";
import { type Server as NetServer, type Socket, createServer as createNetServer } from "node:net";
import {
  type ChannelOptions,
  Server,
  ServerCredentials,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { CompatServiceDefinition, ServiceDefinition, ServiceImplementation } from "nice-grpc";
import { type ServerMiddleware, composeServerMiddleware } from "nice-grpc-common";
import { AuthorityRewritingConnection } from "./http2/authority.js";

// nice-grpc keeps its per-call handlers internal; they are reused rather than rewritten.
type Handler = UntypedServiceImplementation[string];
type HandlerFactory = (
  definition: unknown,
  implementation: unknown,
  middleware?: ServerMiddleware,
) => Handler;
const require = createRequire(import.meta.url);
const { createUnaryMethodHandler } = require("nice-grpc/lib/server/handleUnaryCall.js") as {
  createUnaryMethodHandler: HandlerFactory;
};
const { createServerStreamingMethodHandler } =
  require("nice-grpc/lib/server/handleServerStreamingCall.js") as {
    createServerStreamingMethodHandler: HandlerFactory;
  };
const { createClientStreamingMethodHandler } =
  require("nice-grpc/lib/server/handleClientStreamingCall.js") as {
    createClientStreamingMethodHandler: HandlerFactory;
  };
const { createBidiStreamingMethodHandler } = require("nice-grpc/lib/server/handleBidiStreamingCall.js") as {
  createBidiStreamingMethodHandler: HandlerFactory;
};
const { normalizeServiceDefinition, toGrpcJsServiceDefinition } =
  require("nice-grpc/lib/service-definitions/index.js") as {
    normalizeServiceDefinition(definition: CompatServiceDefinition): ServiceDefinition;
    toGrpcJsServiceDefinition(definition: ServiceDefinition): Parameters<Server["addService"]>[0];
  };

export interface GrpcServerOptions {
  /** grpc-js server options (message size limits, keepalive). */
  channelOptions?: ChannelOptions;
  /** Middleware for every call, the first one outermost. */
  middleware?: ServerMiddleware[];
  /** Told when a connection is closed for a malformed request header block. */
  onConnectionError?: (message: string) => void;
}

/**
 * HTTP/2 flow-control windows of the server's receiving side. grpc-js leaves Node's 64 KiB
 * defaults, so a client streaming content in (1 MiB Write messages) waits for a
 * WINDOW_UPDATE every 64 KiB; grpc-go grows its windows to several MiB by itself. Both
 * the per-stream window (SETTINGS_INITIAL_WINDOW_SIZE) and the connection's are widened.
 */
export const FLOW_CONTROL_WINDOW_BYTES = 8 << 20;

/** The part of grpc-js's Server this reaches into: the HTTP/2 servers its injectors made. */
interface GrpcServerInternals {
  http2Servers?: Map<
    { on(event: "session", fn: (s: { setLocalWindowSize(n: number): void }) => void): void },
    unknown
  >;
}

function widenFlowControl(server: Server): void {
  const internals = server as unknown as GrpcServerInternals;
  for (const http2Server of internals.http2Servers?.keys() ?? []) {
    const withSettings = http2Server as unknown as { updateSettings?(s: Record<string, unknown>): void };
    withSettings.updateSettings?.({ initialWindowSize: FLOW_CONTROL_WINDOW_BYTES });
    http2Server.on("session", (session) => {
      try {
        session.setLocalWindowSize(FLOW_CONTROL_WINDOW_BYTES);
      } catch {
        // a session closed before its settings were exchanged
      }
    });
  }
}

/** A gRPC server on a unix socket that accepts any HTTP/2 :authority. */
export class GrpcServer {
  readonly #grpc: Server;
  readonly #middleware: ServerMiddleware | undefined;
  readonly #onConnectionError: ((message: string) => void) | undefined;
  readonly #sockets = new Set<Socket>();
  #listener: NetServer | undefined;

  constructor(options: GrpcServerOptions = {}) {
    this.#grpc = new Server(options.channelOptions);
    this.#middleware = options.middleware?.reduce((outer, inner) => composeServerMiddleware(outer, inner));
    this.#onConnectionError = options.onConnectionError;
  }

  /** Serves `definition` with `implementation`; before listen(). */
  add<Service extends CompatServiceDefinition>(
    definition: Service,
    implementation: ServiceImplementation<Service>,
  ): void {
    if (this.#listener !== undefined) throw new Error("GrpcServer.add() must come before listen()");
    const methods = normalizeServiceDefinition(definition);
    const handlers: UntypedServiceImplementation = {};
    for (const [name, method] of Object.entries(methods)) {
      const impl = (implementation as Record<string, (...args: unknown[]) => unknown>)[name];
      if (impl === undefined) throw new Error(`no implementation of ${method.path}`);
      const factory = method.requestStream
        ? method.responseStream
          ? createBidiStreamingMethodHandler
          : createClientStreamingMethodHandler
        : method.responseStream
          ? createServerStreamingMethodHandler
          : createUnaryMethodHandler;
      handlers[name] = factory(method, impl.bind(implementation), this.#middleware);
    }
    this.#grpc.addService(toGrpcJsServiceDefinition(methods), handlers);
  }

  /** Listens on the unix socket `path` (its file must not exist) with file mode `mode`. */
  async listen(path: string, mode = 0o660): Promise<void> {
    if (this.#listener !== undefined) throw new Error("GrpcServer.listen() was called already");
    const injector = this.#grpc.createConnectionInjector(ServerCredentials.createInsecure());
    widenFlowControl(this.#grpc);
    const listener = createNetServer((socket) => {
      this.#sockets.add(socket);
      socket.once("close", () => this.#sockets.delete(socket));
      injector.injectConnection(
        new AuthorityRewritingConnection(socket, {
          onError: (message) => this.#onConnectionError?.(message),
        }),
      );
    });
    this.#listener = listener;
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen(path, () => {
        listener.off("error", reject);
        resolve();
      });
    });
    await chmod(path, mode);
  }

  /**
   * Stops taking connections and lets calls in progress finish; after `graceMs` the
   * ones left (event subscriptions never end by themselves) are cancelled.
   */
  async shutdown(graceMs = 5_000): Promise<void> {
    this.#listener?.close();
    const timer = setTimeout(() => this.forceShutdown(), graceMs);
    try {
      await new Promise<void>((resolve) => this.#grpc.tryShutdown(() => resolve()));
    } finally {
      clearTimeout(timer);
    }
    for (const socket of this.#sockets) socket.destroy();
  }

  /** Stops at once: calls in progress end CANCELLED, every connection is closed. */
  forceShutdown(): void {
    this.#listener?.close();
    this.#grpc.forceShutdown();
    for (const socket of this.#sockets) socket.destroy();
  }
}
