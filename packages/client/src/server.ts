// What berthd's and berth-cri's gRPC servers share: the middleware that turns error kinds
// into gRPC status codes, and Prometheus request metrics with their HTTP endpoint.
// Imported as @berth/client/server, by the daemons only.
import { type Server, createServer } from "node:http";
import { type CallContext, ServerError, type ServerMiddlewareCall, Status } from "nice-grpc-common";
import { Counter, Histogram, Registry } from "prom-client";
import { BerthError, GrpcCode, toGrpcCode } from "./errdefs.js";
import type { Logger } from "./log.js";

export interface ErrorLogger {
  error(msg: string, meta?: Record<string, unknown>): void;
  debug?(msg: string, meta?: Record<string, unknown>): void;
}

function toServerError(err: unknown, path: string, log: ErrorLogger): ServerError {
  if (err instanceof ServerError) return err;
  if (err instanceof BerthError) return new ServerError(err.code as Status, err.message);
  if (typeof err === "object" && err !== null && "name" in err && err.name === "AbortError") {
    return new ServerError(Status.CANCELLED, "request cancelled");
  }
  const code = toGrpcCode(err);
  if (code === GrpcCode.UNKNOWN) {
    log.error("request failed", { method: path, error: String(err), stack: (err as Error)?.stack });
  }
  return new ServerError(code as Status, err instanceof Error ? err.message : String(err));
}

/**
 * The one place error kinds become gRPC status codes for every call; anything without a
 * kind is Unknown and logged as an error. With `debugFailures`, every failed call is also
 * logged at debug level.
 */
export function errorMiddleware(log: ErrorLogger, options: { debugFailures?: boolean } = {}) {
  return async function* <Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ) {
    try {
      return yield* call.next(call.request, context);
    } catch (err) {
      if (options.debugFailures) log.debug?.("call failed", { method: call.method.path, error: String(err) });
      throw toServerError(err, call.method.path, log);
    }
  };
}

export interface ServerMetricsOptions {
  /** What the requests are, in the metrics' help ("gRPC", "CRI"). */
  subject: string;
  /** Latency histogram buckets, in seconds. */
  buckets: number[];
  /** HTTP paths serving the metrics; the first is named in the 404 answer. */
  paths: string[];
}

/** A Prometheus registry with request counts and latencies by method and status code. */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter;
  readonly #latency: Histogram;
  readonly #paths: string[];

  constructor(options: ServerMetricsOptions) {
    this.#paths = options.paths;
    this.#requests = new Counter({
      name: "grpc_server_handled_total",
      help: `${options.subject} requests completed, by method and status code`,
      labelNames: ["grpc_service", "grpc_method", "grpc_code"],
      registers: [this.registry],
    });
    this.#latency = new Histogram({
      name: "grpc_server_handling_seconds",
      help: `${options.subject} request latency in seconds`,
      labelNames: ["grpc_service", "grpc_method"],
      buckets: options.buckets,
      registers: [this.registry],
    });
  }

  /** nice-grpc middleware counting and timing every call. */
  middleware() {
    const requests = this.#requests;
    const latency = this.#latency;
    return async function* <Req, Res>(call: ServerMiddlewareCall<Req, Res>, context: CallContext) {
      const [, service = "", method = ""] = call.method.path.split("/");
      const end = latency.startTimer({ grpc_service: service, grpc_method: method });
      let code = "OK";
      try {
        return yield* call.next(call.request, context);
      } catch (err) {
        code = typeof err === "object" && err !== null && "code" in err ? String(err.code) : "UNKNOWN";
        throw err;
      } finally {
        end();
        requests.inc({ grpc_service: service, grpc_method: method, grpc_code: code });
      }
    };
  }

  /** Serves the registry as Prometheus text on http://`address` (host:port, [v6]:port). */
  async serve(address: string, log: Logger): Promise<Server> {
    const colon = address.lastIndexOf(":");
    const host = address.slice(0, colon).replace(/^\[|\]$/g, "") || "127.0.0.1";
    const port = Number(address.slice(colon + 1));
    const server = createServer((req, res) => {
      if (!this.#paths.includes(req.url ?? "")) {
        res.writeHead(404).end(`not found: metrics are at ${this.#paths[0]}\n`);
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { "Content-Type": this.registry.contentType }).end(text),
        (err) => {
          log.warn("metrics scrape failed", { error: String(err) });
          res.writeHead(500).end();
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    log.info("metrics serving", { address });
    return server;
  }
}

export { GrpcServer, type GrpcServerOptions } from "./grpc-server.js";
