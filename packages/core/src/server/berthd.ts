// berthd as a library: builds the plugin graph from a config, serves containerd's v1
// API on a unix socket (and its ttrpc events service for shims), and stops cleanly.
import { randomUUID } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ContainersDefinition } from "@berth/api/containerd/services/containers/v1/containers";
import { ContentDefinition } from "@berth/api/containerd/services/content/v1/content";
import { DiffDefinition } from "@berth/api/containerd/services/diff/v1/diff";
import { EventsDefinition } from "@berth/api/containerd/services/events/v1/events";
import { ImagesDefinition } from "@berth/api/containerd/services/images/v1/images";
import { IntrospectionDefinition } from "@berth/api/containerd/services/introspection/v1/introspection";
import { LeasesDefinition } from "@berth/api/containerd/services/leases/v1/leases";
import { NamespacesDefinition } from "@berth/api/containerd/services/namespaces/v1/namespace";
import { SnapshotsDefinition } from "@berth/api/containerd/services/snapshots/v1/snapshots";
import { TasksDefinition } from "@berth/api/containerd/services/tasks/v1/tasks";
import { EventsDefinition as TtrpcEventsDefinition } from "@berth/api/containerd/services/ttrpc/events/v1/events";
import { VersionDefinition } from "@berth/api/containerd/services/version/v1/version";
import { HealthDefinition } from "@berth/api/grpc/health/v1/health";
import { HealthStatus, healthService } from "@berth/client/health";
import type { Logger } from "@berth/client/log";
import { GrpcServer, errorMiddleware } from "@berth/client/server";
import { TtrpcServer } from "@berth/ttrpc";
import type { BerthdConfig } from "../config/config.js";
import { containersService } from "../containers/service.js";
import { LocalContentStore } from "../content/local.js";
import { contentService } from "../content/service.js";
import { Differ } from "../diff/differ.js";
import { diffService } from "../diff/service.js";
import { EventExchange, validTopic } from "../events/exchange.js";
import { EventPublisher } from "../events/publisher.js";
import { eventsService } from "../events/service.js";
import { imagesService } from "../images/service.js";
import { introspectionService } from "../introspection/service.js";
import { leasesService } from "../leases/service.js";
import { validateNamespace } from "../metadata/context.js";
import { Metadata } from "../metadata/metadata.js";
import { DaemonMetrics } from "../metrics/metrics.js";
import { namespacesService } from "../namespaces/service.js";
import { PluginRegistry } from "../plugin/registry.js";
import { RuntimeManager } from "../runtime/manager.js";
import { NativeSnapshotter } from "../snapshots/native.js";
import { OverlaySnapshotter } from "../snapshots/overlay.js";
import { snapshotsService } from "../snapshots/service.js";
import type { Snapshotter } from "../snapshots/snapshotter.js";
import { closeOnExecAll } from "../sys/fd.js";
import { tasksService } from "../tasks/service.js";
import { versionService } from "../version/service.js";

export interface Berthd {
  readonly config: BerthdConfig;
  readonly metadata: Metadata;
  readonly events: EventExchange;
  readonly plugins: PluginRegistry;
  stop(): Promise<void>;
}

async function serverUUID(root: string): Promise<string> {
  const file = join(root, "uuid");
  try {
    return (await readFile(file, "utf8")).trim();
  } catch {
    const id = randomUUID();
    await writeFile(file, `${id}\n`);
    return id;
  }
}

export async function startBerthd(config: BerthdConfig, log: Logger): Promise<Berthd> {
  await mkdir(config.root, { recursive: true, mode: 0o711 });
  await mkdir(config.state, { recursive: true, mode: 0o711 });
  const registry = new PluginRegistry();
  const exchange = new EventExchange();
  const publisher = new EventPublisher(exchange);

  registry.register({
    type: "io.containerd.content.v1",
    id: "content",
    init: async () => ({
      instance: await LocalContentStore.open(join(config.root, "io.containerd.content.v1.content")),
    }),
  });
  const snapshotterRegistrations: [string, (dir: string) => Promise<Snapshotter>][] = [
    ["overlayfs", (dir) => OverlaySnapshotter.open(dir)],
    ["native", (dir) => NativeSnapshotter.open(dir)],
  ];
  for (const [id, open] of snapshotterRegistrations) {
    const dir = join(config.root, `io.containerd.snapshotter.v1.${id}`);
    registry.register({
      type: "io.containerd.snapshotter.v1",
      id,
      init: async () => ({ instance: await open(dir), exports: { root: dir } }),
    });
  }
  registry.register({
    type: "io.containerd.metadata.v1",
    id: "bolt",
    requires: ["io.containerd.content.v1", "io.containerd.snapshotter.v1"],
    init: async (get) => {
      const snapshotters: Record<string, Snapshotter> = {};
      for (const [id] of snapshotterRegistrations) {
        try {
          snapshotters[id] = get<Snapshotter>("io.containerd.snapshotter.v1", id);
        } catch {
          // A snapshotter that failed to load is reported by introspection and left out.
        }
      }
      const dir = join(config.root, "io.containerd.metadata.v1.bolt");
      await mkdir(dir, { recursive: true, mode: 0o711 });
      return {
        instance: Metadata.open(
          dir,
          get("io.containerd.content.v1", "content"),
          snapshotters,
          log.child({ module: "gc" }),
          { gcScheduleDelayMs: config.gc.scheduleDelayMs },
        ),
      };
    },
  });
  registry.register({
    type: "io.containerd.differ.v1",
    id: "walking",
    requires: ["io.containerd.metadata.v1"],
    init: async (get) => ({
      instance: new Differ(get<Metadata>("io.containerd.metadata.v1", "bolt").content),
    }),
  });
  registry.register({
    type: "io.containerd.gc.v1",
    id: "scheduler",
    requires: ["io.containerd.metadata.v1"],
    init: async () => ({ instance: {} }),
  });
  for (const id of [
    "containers",
    "tasks",
    "content",
    "snapshots",
    "images",
    "leases",
    "namespaces",
    "diff",
    "events",
    "healthcheck",
    "introspection",
    "version",
  ]) {
    registry.register({
      type: "io.containerd.grpc.v1",
      id,
      requires: ["io.containerd.metadata.v1", "io.containerd.differ.v1"],
      init: async () => ({ instance: {} }),
    });
  }

  // What a start that fails half-way has opened is closed again, newest first, so that the
  // error is the only trace it leaves (no lmdb environment, socket or listener held).
  const undo: Array<() => Promise<void> | void> = [];
  const closeSnapshotters = async () => {
    for (const [id] of snapshotterRegistrations) {
      try {
        await registry.get<Snapshotter>("io.containerd.snapshotter.v1", id).close();
      } catch {
        // not loaded
      }
    }
  };
  undo.push(closeSnapshotters);
  try {
    return await serve();
  } catch (err) {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (closeErr) {
        log.warn("closing after a failed start", { error: String(closeErr) });
      }
    }
    throw err;
  }

  async function serve(): Promise<Berthd> {
    await registry.init((info, err) =>
      log.warn("plugin failed to load", { type: info.type, id: info.id, error: String(err) }),
    );
    const metadata = registry.get<Metadata>("io.containerd.metadata.v1", "bolt");
    undo.push(() => metadata.close());
    const differ = registry.get<Differ>("io.containerd.differ.v1", "walking");

    closeOnExecAll();
    // Crash leftovers (ingests without records, half-made snapshots) go at start.
    await metadata.gc
      .collect()
      .catch((err) => log.warn("start-up garbage collection failed", { error: String(err) }));

    const metrics = new DaemonMetrics();
    const server = new GrpcServer({
      middleware: [metrics.middleware(), errorMiddleware(log)],
      onConnectionError: (message) =>
        log.warn("gRPC connection closed: its request headers cannot be decoded", { error: message }),
    });
    const health = new HealthStatus();
    server.add(HealthDefinition, healthService(health));
    server.add(VersionDefinition, versionService());
    server.add(NamespacesDefinition, namespacesService(metadata.namespaces, publisher));
    server.add(ContainersDefinition, containersService(metadata.containers, metadata.gc, publisher));
    server.add(ContentDefinition, contentService(metadata.content, metadata.gc, publisher));
    server.add(ImagesDefinition, imagesService(metadata.images, metadata.gc, publisher));
    server.add(LeasesDefinition, leasesService(metadata.leases, metadata.gc));
    server.add(SnapshotsDefinition, snapshotsService(metadata.snapshotters, metadata.gc, publisher));
    server.add(DiffDefinition, diffService(differ));
    server.add(EventsDefinition, eventsService(exchange));
    server.add(IntrospectionDefinition, introspectionService(registry, await serverUUID(config.root)));

    await mkdir(dirname(config.grpc.address), { recursive: true, mode: 0o711 });
    await rm(config.grpc.address, { force: true });
    const runtime = new RuntimeManager(
      {
        state: config.state,
        grpcAddress: config.grpc.address,
        ttrpcAddress: config.ttrpc.address,
        // The program berthd was started as (install.sh's wrapper says which, wherever its
        // bin directory is), as containerd passes its own binary to shims.
        publishBinary: process.env.BERTH_PROGRAM || process.argv[1] || "berthd",
      },
      publisher,
      log.child({ module: "runtime" }),
    );
    server.add(TasksDefinition, tasksService(runtime, metadata.containers, log.child({ module: "tasks" })));

    const ttrpc = new TtrpcServer();
    ttrpc.register(TtrpcEventsDefinition, {
      async forward(req: {
        envelope?: {
          timestamp?: Date;
          namespace: string;
          topic: string;
          event?: { typeUrl: string; value: Buffer };
        };
      }) {
        const e = req.envelope;
        if (!e?.event || !validTopic(e.topic)) return {};
        validateNamespace(e.namespace);
        exchange.publish({
          timestamp: e.timestamp ?? new Date(),
          namespace: e.namespace,
          topic: e.topic,
          event: e.event,
        });
        return {};
      },
    });
    await mkdir(dirname(config.ttrpc.address), { recursive: true, mode: 0o711 });
    undo.push(() => rm(config.ttrpc.address, { force: true }));
    await ttrpc.listen(config.ttrpc.address);
    undo.push(() => ttrpc.close().catch(() => undefined));

    // Tasks are known again before the first client can ask for them.
    undo.push(() => runtime.close());
    await runtime.restore();
    undo.push(() => rm(config.grpc.address, { force: true }));
    await server.listen(config.grpc.address, 0o660);
    undo.push(() => server.forceShutdown());
    metrics.watchTasks(runtime);
    const metricsServer =
      config.metrics.address !== "" ? await metrics.serve(config.metrics.address, log) : null;
    log.info("berthd serving", {
      grpc: config.grpc.address,
      ttrpc: config.ttrpc.address,
      root: config.root,
      state: config.state,
    });

    let stopped = false;
    return {
      config,
      metadata,
      events: exchange,
      plugins: registry,
      async stop() {
        if (stopped) return;
        stopped = true;
        health.shutdown();
        server.forceShutdown();
        runtime.close();
        metricsServer?.close();
        await ttrpc.close().catch(() => undefined);
        await metadata.close();
        await closeSnapshotters();
        await rm(config.grpc.address, { force: true });
        await rm(config.ttrpc.address, { force: true });
        log.info("berthd stopped");
      },
    };
  }
}
