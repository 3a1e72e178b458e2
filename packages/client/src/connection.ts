// One gRPC connection to berthd (or containerd 1.6): typed clients for the core services,
// all carrying the namespace (and optionally a lease) as request metadata, with gRPC
// status codes turned into BerthError kinds in one place.

import {
  type ContainersClient,
  ContainersDefinition,
} from "@berth/api/containerd/services/containers/v1/containers";
import { type ContentClient, ContentDefinition } from "@berth/api/containerd/services/content/v1/content";
import { type DiffClient, DiffDefinition } from "@berth/api/containerd/services/diff/v1/diff";
import { type EventsClient, EventsDefinition } from "@berth/api/containerd/services/events/v1/events";
import { type ImagesClient, ImagesDefinition } from "@berth/api/containerd/services/images/v1/images";
import {
  type IntrospectionClient,
  IntrospectionDefinition,
} from "@berth/api/containerd/services/introspection/v1/introspection";
import { type LeasesClient, LeasesDefinition } from "@berth/api/containerd/services/leases/v1/leases";
import {
  type NamespacesClient,
  NamespacesDefinition,
} from "@berth/api/containerd/services/namespaces/v1/namespace";
import {
  type SnapshotsClient,
  SnapshotsDefinition,
} from "@berth/api/containerd/services/snapshots/v1/snapshots";
import { type TasksClient, TasksDefinition } from "@berth/api/containerd/services/tasks/v1/tasks";
import { type VersionClient, VersionDefinition } from "@berth/api/containerd/services/version/v1/version";
import {
  type CallOptions,
  type Channel,
  ClientError,
  type ClientMiddlewareCall,
  Metadata,
  createChannel,
  createClientFactory,
} from "nice-grpc";
import { BerthError, fromGrpcCode } from "./errdefs.js";

/** gRPC metadata keys containerd reads its request context from. */
export const NAMESPACE_METADATA_KEY = "containerd-namespace";
export const LEASE_METADATA_KEY = "containerd-lease";

export const DEFAULT_ADDRESS = "/run/berth/berthd.sock";
export const DEFAULT_NAMESPACE = "default";

export interface ConnectOptions {
  /** Socket path (`/run/berth/berthd.sock`) or gRPC target (`unix:///…`). */
  address: string;
  namespace: string;
  /** Lease ID sent with every call, so what the calls create is protected from GC. */
  lease?: string;
}

export interface Connection {
  readonly address: string;
  readonly namespace: string;
  readonly lease: string | undefined;
  readonly containers: ContainersClient;
  readonly content: ContentClient;
  readonly images: ImagesClient;
  readonly snapshots: SnapshotsClient;
  readonly diff: DiffClient;
  readonly leases: LeasesClient;
  readonly namespaces: NamespacesClient;
  readonly events: EventsClient;
  readonly tasks: TasksClient;
  readonly introspection: IntrospectionClient;
  readonly version: VersionClient;
  /** The same channel with every call carrying this lease (`undefined`: none). */
  withLease(lease: string | undefined): Connection;
  /** The same channel in another namespace. */
  withNamespace(namespace: string): Connection;
  /** Closes the channel shared by this connection and every one derived from it. */
  close(): void;
}

// grpc-js limits received messages to 4 MiB by default; containerd's own clients allow 16 MiB.
const MAX_MESSAGE_BYTES = 16 << 20;

/** A gRPC target for a socket path; targets with a scheme are passed through. */
export function grpcTarget(address: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(address)) return address;
  return `unix://${address}`;
}

/** Turns a failed call's status into a BerthError of the matching kind (the original is its cause). */
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

const clientFactory = createClientFactory().use(mapErrors);

/** Opens a channel to the daemon. Nothing is sent until the first call. */
export function connect(options: ConnectOptions): Connection {
  const channel = createChannel(grpcTarget(options.address), undefined, {
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  });
  return makeConnection(channel, options);
}

function makeConnection(channel: Channel, options: ConnectOptions): Connection {
  const metadata = Metadata({ [NAMESPACE_METADATA_KEY]: options.namespace });
  if (options.lease !== undefined && options.lease !== "") metadata.set(LEASE_METADATA_KEY, options.lease);
  const defaults = { "*": { metadata } };
  return {
    address: options.address,
    namespace: options.namespace,
    lease: options.lease,
    containers: clientFactory.create(ContainersDefinition, channel, defaults),
    content: clientFactory.create(ContentDefinition, channel, defaults),
    images: clientFactory.create(ImagesDefinition, channel, defaults),
    snapshots: clientFactory.create(SnapshotsDefinition, channel, defaults),
    diff: clientFactory.create(DiffDefinition, channel, defaults),
    leases: clientFactory.create(LeasesDefinition, channel, defaults),
    namespaces: clientFactory.create(NamespacesDefinition, channel, defaults),
    events: clientFactory.create(EventsDefinition, channel, defaults),
    tasks: clientFactory.create(TasksDefinition, channel, defaults),
    introspection: clientFactory.create(IntrospectionDefinition, channel, defaults),
    version: clientFactory.create(VersionDefinition, channel, defaults),
    withLease: (lease) => makeConnection(channel, { ...options, lease }),
    withNamespace: (namespace) => makeConnection(channel, { ...options, namespace }),
    close: () => channel.close(),
  };
}
