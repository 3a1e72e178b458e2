// berth-cri's one link to berthd (or containerd 1.6): the daemon's services as berth-cri
// uses them, whose failed calls arrive as BerthError kinds. Production wraps
// @berth/client's connection; unit tests hand in testing/fakes.ts's FakeDaemon.

import type { ContainersClient } from "@berth/api/containerd/services/containers/v1/containers";
import type { EventsClient } from "@berth/api/containerd/services/events/v1/events";
import type { Image, ImagesClient } from "@berth/api/containerd/services/images/v1/images";
import type { IntrospectionClient } from "@berth/api/containerd/services/introspection/v1/introspection";
import type { LeasesClient } from "@berth/api/containerd/services/leases/v1/leases";
import type { SnapshotsClient } from "@berth/api/containerd/services/snapshots/v1/snapshots";
import type { TasksClient } from "@berth/api/containerd/services/tasks/v1/tasks";
import type { VersionClient } from "@berth/api/containerd/services/version/v1/version";
import { type Connection, type PullOptions, connect, pull } from "@berth/client";

export type DaemonContainers = Pick<ContainersClient, "get" | "list" | "create" | "update" | "delete">;
export type DaemonTasks = Pick<
  TasksClient,
  | "create"
  | "start"
  | "delete"
  | "deleteProcess"
  | "get"
  | "kill"
  | "exec"
  | "resizePty"
  | "closeIO"
  | "update"
  | "metrics"
  | "wait"
>;
export type DaemonSnapshots = Pick<
  SnapshotsClient,
  "prepare" | "view" | "mounts" | "remove" | "usage" | "list"
>;

export interface Containerd {
  readonly address: string;
  readonly namespace: string;
  readonly containers: DaemonContainers;
  readonly tasks: DaemonTasks;
  readonly snapshots: DaemonSnapshots;
  readonly leases: Pick<LeasesClient, "create" | "delete">;
  readonly images: Pick<ImagesClient, "create" | "update" | "delete">;
  readonly events: Pick<EventsClient, "subscribe">;
  readonly introspection: Pick<IntrospectionClient, "plugins">;
  readonly version: Pick<VersionClient, "version">;
  /** Snapshot calls that carry `lease`: what they make is the lease's until a record refers to it. */
  withLease(lease: string): { readonly snapshots: DaemonSnapshots };
  /** Pulls and unpacks an image into the daemon (client side), returning its record. */
  pull(name: string, options: PullOptions): Promise<Image>;
  close(): void;
}

/** The daemon over @berth/client's connection, which the image store also reads content through. */
export interface ContainerdConnection extends Containerd {
  readonly conn: Connection;
}

export function connectContainerd(address: string, namespace: string): ContainerdConnection {
  const conn = connect({ address, namespace });
  return {
    address,
    namespace,
    conn,
    containers: conn.containers,
    tasks: conn.tasks,
    snapshots: conn.snapshots,
    leases: conn.leases,
    images: conn.images,
    events: conn.events,
    introspection: conn.introspection,
    version: conn.version,
    withLease: (lease) => conn.withLease(lease),
    pull: (name, options) => pull(conn, name, options),
    close: () => conn.close(),
  };
}
