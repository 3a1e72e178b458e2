// Prometheus metrics on the configured loopback address: CRI request counts and
// latencies by method and status code, and the number of sandboxes and containers.
import { ServerMetrics } from "@berth/client/server";
import { Gauge } from "prom-client";
import type { Cri } from "./cri.js";
import { containerState } from "./store/stores.js";

export class CriMetrics extends ServerMetrics {
  constructor() {
    super({
      subject: "CRI",
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
      paths: ["/metrics"],
    });
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
}
