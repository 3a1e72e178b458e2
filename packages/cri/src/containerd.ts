// berth-cri's one link to berthd (or containerd 1.6): @berth/client's connection, whose
// failed calls arrive as BerthError kinds. Containers and Tasks are named here too, as
// the services berth-cri uses most.

import type { ContainersClient } from "@berth/api/containerd/services/containers/v1/containers";
import type { TasksClient } from "@berth/api/containerd/services/tasks/v1/tasks";
import { type Connection, connect } from "@berth/client";

export interface Containerd {
  readonly address: string;
  readonly namespace: string;
  readonly conn: Connection;
  readonly containers: ContainersClient;
  readonly tasks: TasksClient;
  close(): void;
}

export function connectContainerd(address: string, namespace: string): Containerd {
  const conn = connect({ address, namespace });
  return {
    address,
    namespace,
    conn,
    containers: conn.containers,
    tasks: conn.tasks,
    close: () => conn.close(),
  };
}
