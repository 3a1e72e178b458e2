// berth-cri as a library: connects to the daemon, rebuilds its state from it, follows its
// task events and serves CRI v1 (RuntimeService and ImageService) on a unix socket.

import { mkdir, rm } from "node:fs/promises";
import type { Server as HttpServer } from "node:http";
import { dirname } from "node:path";
import { ImageServiceDefinition, RuntimeServiceDefinition } from "@berth/api/cri/runtime/v1/api";
import { HealthDefinition } from "@berth/api/grpc/health/v1/health";
import { errorMessage } from "@berth/client";
import { HealthStatus, healthService } from "@berth/client/health";
import type { Logger } from "@berth/client/log";
import { GrpcServer, errorMiddleware } from "@berth/client/server";
import type { CriConfig } from "./config.js";
import { connectContainerd } from "./containerd.js";
import { Cri, nodeCriDeps } from "./cri.js";
import { EventMonitor } from "./events/monitor.js";
import { imageService } from "./image/service.js";
import { CriMetrics } from "./metrics.js";
import { recover } from "./recover.js";
import { runtimeService } from "./runtime/service.js";
import { StreamingServer } from "./streaming/server.js";

export interface BerthCri {
  readonly config: CriConfig;
  readonly cri: Cri;
  stop(): Promise<void>;
}

/** How long start-up waits for the daemon to answer (it may be starting too). */
const DAEMON_WAIT_MS = 60_000;

async function waitForDaemon(cri: Cri, log: Logger): Promise<void> {
  const deadline = Date.now() + DAEMON_WAIT_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      await cri.containerd.version.version({}, { signal: AbortSignal.timeout(5_000) });
      return;
    } catch (err) {
      if (Date.now() > deadline) {
        throw new Error(`the daemon at ${cri.containerd.address} does not answer: ${errorMessage(err)}`);
      }
      if (attempt === 0)
        log.warn("waiting for the daemon", { address: cri.containerd.address, error: errorMessage(err) });
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

export async function startBerthCri(config: CriConfig, log: Logger): Promise<BerthCri> {
  await mkdir(config.root, { recursive: true, mode: 0o711 });
  await mkdir(config.state, { recursive: true, mode: 0o711 });
  const containerd = connectContainerd(config.containerd.address, config.containerd.namespace);
  const cri = new Cri(nodeCriDeps(config, containerd, log));
  const monitor = new EventMonitor(cri);
  let server: GrpcServer | undefined;
  const health = new HealthStatus();
  let metricsServer: HttpServer | undefined;
  const streaming = new StreamingServer(cri, {
    address: config.streaming.address,
    ttlMs: config.streaming.tokenTtlSeconds * 1000,
    maxInFlight: config.streaming.maxWaitingTokens,
    idleTimeoutMs: config.streaming.idleTimeoutSeconds * 1000,
  });
  try {
    await waitForDaemon(cri, log);
    // Subscribe before recovering, so no exit falls between the two.
    monitor.start();
    await recover(cri);

    const metrics = new CriMetrics();
    const grpcLog = log.child({ module: "grpc" });
    server = new GrpcServer({
      middleware: [metrics.middleware(), errorMiddleware(grpcLog, { debugFailures: true })],
      onConnectionError: (message) =>
        grpcLog.warn("connection closed: its request headers cannot be decoded", { error: message }),
    });
    await streaming.listen();
    server.add(RuntimeServiceDefinition, runtimeService(cri, streaming));
    server.add(ImageServiceDefinition, imageService(cri));
    server.add(HealthDefinition, healthService(health));
    await mkdir(dirname(config.address), { recursive: true, mode: 0o711 });
    await rm(config.address, { force: true });
    await server.listen(config.address, 0o660);
    metrics.watch(cri);
    if (config.metrics.address !== "") metricsServer = await metrics.serve(config.metrics.address, log);
  } catch (err) {
    await monitor.stop();
    server?.forceShutdown();
    await streaming.stop();
    containerd.close();
    throw err;
  }
  log.info("berth-cri serving", {
    address: config.address,
    containerd: config.containerd.address,
    namespace: config.containerd.namespace,
    runtime: config.containerd.runtime,
    streaming: streaming.baseUrl,
  });

  let stopped = false;
  return {
    config,
    cri,
    async stop() {
      if (stopped) return;
      stopped = true;
      health.shutdown();
      server?.forceShutdown();
      metricsServer?.close();
      await streaming.stop();
      await monitor.stop();
      // Containers keep running; their shims keep the FIFOs until berth-cri is back.
      for (const c of cri.containers.list()) await c.io?.log.close();
      containerd.close();
      await rm(config.address, { force: true });
      log.info("berth-cri stopped");
    },
  };
}
