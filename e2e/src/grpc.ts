import { createHash } from "node:crypto";
// Typed gRPC clients for a daemon's socket, namespaced by metadata as containerd expects.
import { ContainersDefinition } from "@berth/api/containerd/services/containers/v1/containers";
import { ContentDefinition, WriteAction } from "@berth/api/containerd/services/content/v1/content";
import { DiffDefinition } from "@berth/api/containerd/services/diff/v1/diff";
import { ImagesDefinition } from "@berth/api/containerd/services/images/v1/images";
import { LeasesDefinition } from "@berth/api/containerd/services/leases/v1/leases";
import { NamespacesDefinition } from "@berth/api/containerd/services/namespaces/v1/namespace";
import { SnapshotsDefinition } from "@berth/api/containerd/services/snapshots/v1/snapshots";
import { TasksDefinition } from "@berth/api/containerd/services/tasks/v1/tasks";
import { type Channel, Metadata, createChannel, createClient } from "nice-grpc";

/** Clients for a daemon; resources made through them join `lease`, as real clients' work does (else GC may take them). */
export function clients(address: string, namespace?: string, lease?: string) {
  const channel: Channel = createChannel(`unix://${address}`);
  const metadata = Metadata();
  if (namespace !== undefined) metadata.set("containerd-namespace", namespace);
  if (lease !== undefined) metadata.set("containerd-lease", lease);
  const opts = { "*": { metadata } };
  return {
    channel,
    containers: createClient(ContainersDefinition, channel, opts),
    content: createClient(ContentDefinition, channel, opts),
    tasks: createClient(TasksDefinition, channel, opts),
    images: createClient(ImagesDefinition, channel, opts),
    snapshots: createClient(SnapshotsDefinition, channel, opts),
    diff: createClient(DiffDefinition, channel, opts),
    leases: createClient(LeasesDefinition, channel, opts),
    namespaces: createClient(NamespacesDefinition, channel, opts),
    close: () => channel.close(),
  };
}

export type Clients = ReturnType<typeof clients>;

export const sha256 = (data: Uint8Array) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

/** Writes a blob through Content.Write (stat, one write, commit), as the Go client does. */
export async function writeBlob(
  c: Clients,
  data: Buffer,
  opts: { ref?: string; expected?: string; total?: number; labels?: Record<string, string> } = {},
): Promise<string> {
  const expected = opts.expected ?? sha256(data);
  const ref = opts.ref ?? `test-${expected}`;
  async function* requests() {
    yield { action: WriteAction.STAT, ref, total: opts.total ?? data.length, expected };
    yield { action: WriteAction.WRITE, ref, offset: 0, data };
    yield {
      action: WriteAction.COMMIT,
      ref,
      offset: data.length,
      total: opts.total ?? data.length,
      expected,
      labels: opts.labels ?? {},
    };
  }
  let digest = "";
  for await (const resp of c.content.write(requests())) if (resp.digest) digest = resp.digest;
  return digest;
}

/** The gRPC status code of a rejected call, or -1 when it succeeded. */
export async function codeOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return -1;
  } catch (err) {
    return typeof err === "object" && err !== null && "code" in err && typeof err.code === "number"
      ? err.code
      : -2;
  }
}
