// berth-cri's one link to berthd (or containerd 1.6): @berth/client's connection for
// images, content, snapshots, leases and events, plus Containers and Tasks clients on a
// channel of their own, with failed calls turned into BerthError kinds the same way.

import {
  type ContainersClient,
  ContainersDefinition,
} from "@berth/api/containerd/services/containers/v1/containers";
import { type TasksClient, TasksDefinition } from "@berth/api/containerd/services/tasks/v1/tasks";
import {
  BerthError,
  type Connection,
  NAMESPACE_METADATA_KEY,
  connect,
  fromGrpcCode,
  grpcTarget,
} from "@berth/client";
import {
  type CallOptions,
  ClientError,
  type ClientMiddlewareCall,
  Metadata,
  createChannel,
  createClientFactory,
} from "nice-grpc";

export interface Containerd {
  readonly address: string;
  readonly namespace: string;
  readonly conn: Connection;
  readonly containers: ContainersClient;
  readonly tasks: TasksClient;
  close(): void;
}

async function* mapErrors<Request, Response>(
  call: ClientMiddlewareCall<Request, Response>,
  options: CallOptions,
) {
  try {
    return yield* call.next(call.request, options);
  } catch (err) {
    if (err instanceof ClientError) {
      throw new BerthError(fromGrpcCode(err.code), err.details || err.message, { cause: err });
    }
    throw err;
  }
}

export function connectContainerd(address: string, namespace: string): Containerd {
  const conn = connect({ address, namespace });
  const channel = createChannel(grpcTarget(address), undefined, {
    "grpc.max_receive_message_length": 16 << 20,
    "grpc.max_send_message_length": 16 << 20,
  });
  const factory = createClientFactory().use(mapErrors);
  const defaults = { "*": { metadata: Metadata({ [NAMESPACE_METADATA_KEY]: namespace }) } };
  return {
    address,
    namespace,
    conn,
    containers: factory.create(ContainersDefinition, channel, defaults),
    tasks: factory.create(TasksDefinition, channel, defaults),
    close() {
      conn.close();
      channel.close();
    },
  };
}
