// Creating and deleting the daemon's side of a sandbox or container: a lease that
// protects a new snapshot until the container record references it, the snapshot itself,
// the container record with its spec, and the task.

import type { Mount } from "@berth/api/containerd/types/mount";
import type { Any } from "@berth/api/google/protobuf/any";
import { GC_EXPIRE, isNotFound, uniquePart } from "@berth/client";
import type { Spec } from "@berth/client/oci/index";
import type { Cri } from "../cri.js";

/** The type URL containerd's clients give a JSON OCI spec. */
export const SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec";

export function specAny(spec: Spec): Any {
  return { typeUrl: SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(spec)) };
}

/** Runs `fn` under a fresh lease (expiring on its own after a crash), deleted afterwards. */
export async function withLease<T>(cri: Cri, fn: (lease: string) => Promise<T>): Promise<T> {
  const expires = new Date(Date.now() + 60 * 60 * 1000).toISOString().replace(/\.\d+Z$/, "Z");
  const res = await cri.containerd.leases.create({
    id: `berth-cri-${uniquePart()}`,
    labels: { [GC_EXPIRE]: expires },
  });
  const lease = res.lease?.id ?? "";
  try {
    return await fn(lease);
  } finally {
    await cri.containerd.leases.delete({ id: lease, sync: false }).catch(() => undefined);
  }
}

/** Prepares the writable snapshot `key` on top of an image's top layer, under `lease`. */
export async function prepareSnapshot(cri: Cri, lease: string, key: string, parent: string): Promise<void> {
  const conn = cri.containerd.withLease(lease);
  await conn.snapshots.prepare({ snapshotter: cri.config.containerd.snapshotter, key, parent, labels: {} });
}

export async function snapshotMounts(cri: Cri, key: string): Promise<Mount[]> {
  const res = await cri.containerd.snapshots.mounts({
    snapshotter: cri.config.containerd.snapshotter,
    key,
  });
  return res.mounts;
}

export async function removeSnapshot(cri: Cri, key: string): Promise<void> {
  if (key === "") return;
  try {
    await cri.containerd.snapshots.remove({ snapshotter: cri.config.containerd.snapshotter, key });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

export async function deleteContainerRecord(cri: Cri, id: string): Promise<void> {
  try {
    await cri.containerd.containers.delete({ id });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** Undo steps of a call that failed half-way, run last first; their own failures are logged. */
export class Cleanup {
  readonly #steps: Array<{ what: string; fn: () => Promise<unknown> }> = [];
  constructor(private readonly cri: Cri) {}

  add(what: string, fn: () => Promise<unknown>): void {
    this.#steps.push({ what, fn });
  }

  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step.fn();
      } catch (err) {
        this.cri.log.warn("cleanup after a failed call did not finish", {
          step: step.what,
          error: String(err),
        });
      }
    }
  }

  /** Forgets the steps: the call succeeded. */
  clear(): void {
    this.#steps.length = 0;
  }
}

/** What verbose status reports from the daemon's record, as containerd's CRI does. */
export interface RecordInfo {
  image: string;
  snapshotKey: string;
  snapshotter: string;
  /** The runtime the record names (its handler's runtime when it was created). */
  runtime: string;
  /** The OCI spec the task runs with; null when the record has none. */
  runtimeSpec: unknown;
}

/** The daemon's record of `id` for verbose status; undefined once it is gone. */
export async function recordInfo(cri: Cri, id: string): Promise<RecordInfo | undefined> {
  let container: Awaited<ReturnType<Cri["containerd"]["containers"]["get"]>>["container"];
  try {
    container = (await cri.containerd.containers.get({ id })).container;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
  if (container === undefined) return undefined;
  let runtimeSpec: unknown = null;
  if (container.spec?.typeUrl === SPEC_TYPE_URL) {
    try {
      runtimeSpec = JSON.parse(Buffer.from(container.spec.value).toString("utf8"));
    } catch {
      // A spec berth-cri did not write: report none rather than fail the status call.
    }
  }
  return {
    image: container.image,
    snapshotKey: container.snapshotKey,
    snapshotter: container.snapshotter,
    runtime: container.runtime?.name ?? "",
    runtimeSpec,
  };
}
