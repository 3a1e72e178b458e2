// Prometheus metrics on the configured loopback address: CRI request counts and
// latencies by method and status code, and the number of sandboxes and containers.
import { type Server, createServer } from "node:http";
import type { Logger } from "@berth/client/log";
import type { CallContext, ServerMiddlewareCall } from "nice-grpc-common";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Cri } from "./cri.js";
import { containerState } from "./store/stores.js";

export class CriMetrics {
  readonly registry = new Registry();
  readonly #requests = new Counter({
    name: "grpc_server_handled_total",
    help: "CRI requests completed, by method and status code",
    labelNames: ["grpc_service", "grpc_method", "grpc_code"],
    registers: [this.registry],
  });
  readonly #latency = new Histogram({
    name: "grpc_server_handling_seconds",
    help: "CRI request latency in seconds",
    labelNames: ["grpc_service", "grpc_method"],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    registers: [this.registry],
  });

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

  watch(cri: Cri): void {
    new Gauge({
      name: "berth_cri_sandboxes",
      help: "Pod sandboxes by state",
      labelNames: ["state"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of cri.sandboxes.list()) this.inc({ state: s.state });
      },
    });
    new Gauge({
      name: "berth_cri_containers",
      help: "Containers by state",
      labelNames: ["state"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of cri.containers.list()) this.inc({ state: containerState(c) });
      },
    });
  }

  async serve(address: string, log: Logger): Promise<Server> {
    const colon = address.lastIndexOf(":");
    const host = address.slice(0, colon).replace(/^\[|\]$/g, "");
    const port = Number(address.slice(colon + 1));
    const server = createServer((req, res) => {
      if (req.url !== "/metrics") {
        res.writeHead(404).end("not found: try /metrics\n");
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
    return server;
  }
}
