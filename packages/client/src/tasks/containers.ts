// Container records: created from an image the way containerd's client does it for
// `ctr run` (under a short lease: unpack if needed, prepare the rootfs snapshot keyed by
// the container ID on the image's top chain ID, record the spec, image, runtime,
// snapshotter and labels), looked up, and removed with their rootfs snapshot.

import type { Container } from "@berth/api/containerd/services/containers/v1/containers";
import { Kind } from "@berth/api/containerd/services/snapshots/v1/snapshots";
import type { Mount } from "@berth/api/containerd/types/mount";
import type { Any } from "@berth/api/google/protobuf/any";
import type { Connection } from "../connection.js";
import {
  BerthError,
  alreadyExists,
  invalidArgument,
  isAlreadyExists,
  isNotFound,
  notFound,
} from "../errdefs.js";
import { GC_EXPIRE } from "../labels.js";
import { type Platform, defaultPlatform } from "../platforms.js";
import { DEFAULT_SNAPSHOTTER, uniquePart } from "../unpack.js";
import { type RunnableImage, ensureUnpacked, loadRunnableImage } from "./image.js";
import { readRootfsFile } from "./rootfs.js";
import { type RunSpecOptions, type RuntimeSpec, buildRunSpec, specFromAny, specToAny } from "./spec.js";
import { resolveUser } from "./user.js";

export type { Container };

/** The runtime `berthctl run` uses unless told otherwise: Berth's own shim. */
export const DEFAULT_RUNTIME = "io.containerd.berth.v2";
export const RUNC_RUNTIME = "io.containerd.runc.v2";

/** Where the image's stop signal is kept on the container (read by `tasks kill` without -s). */
export const STOP_SIGNAL_LABEL = "io.containerd.image.config.stop-signal";

/** containerd.runc.v1.Options: ctr sends an empty one with the runc shim. */
const RUNC_OPTIONS_TYPE_URL = "containerd.runc.v1.Options";

/** A lease for the objects a container creation makes before the record references them. */
const CREATE_LEASE_MS = 24 * 60 * 60 * 1000;

interface CallOptions {
  signal?: AbortSignal;
}

const ID_PATTERN = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;
const MAX_ID_LENGTH = 76;

/** containerd's rule for container IDs (they name directories, FIFOs and cgroups). */
export function validateContainerId(id: string): void {
  if (id.length === 0 || id.length > MAX_ID_LENGTH || !ID_PATTERN.test(id)) {
    throw invalidArgument(
      `invalid container ID ${JSON.stringify(id)}: use letters and digits, joined by single . _ or - (at most ${MAX_ID_LENGTH} characters)`,
    );
  }
}

function opt(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal !== undefined ? { signal } : {};
}

export interface NewContainerOptions extends CallOptions {
  id: string;
  /** Image reference, as stored or in a form that normalises to it (busybox → docker.io/library/busybox:latest). */
  image: string;
  runtime?: string;
  /** Runtime options; for io.containerd.runc.v2 an empty containerd.runc.v1.Options by default. */
  runtimeOptions?: Any;
  snapshotter?: string;
  platform?: Platform;
  /** Container labels; they override the image's own labels. */
  labels?: Record<string, string>;
  /** What the spec gets beyond the image's config (namespace, id, image and user are filled in). */
  spec?: Omit<RunSpecOptions, "namespace" | "id" | "image" | "user">;
}

export interface NewContainerResult {
  container: Container;
  spec: RuntimeSpec;
  image: RunnableImage;
}

/**
 * Creates container `id` from an image: its rootfs snapshot (key = id) on the image's
 * top snapshot, and a record with the runtime spec. Nothing is left behind on failure.
 */
export async function createContainer(
  conn: Connection,
  options: NewContainerOptions,
): Promise<NewContainerResult> {
  const { id, signal } = options;
  const snapshotter = options.snapshotter ?? DEFAULT_SNAPSHOTTER;
  const runtime = options.runtime ?? DEFAULT_RUNTIME;
  validateContainerId(id);
  if (await containerExists(conn, id, signal)) {
    throw alreadyExists(`container ${id} already exists`);
  }
  const image = await loadRunnableImage(conn, options.image, {
    platform: options.platform ?? defaultPlatform(),
    ...opt(signal),
  });

  const expires = new Date(Date.now() + CREATE_LEASE_MS).toISOString().replace(/\.\d+Z$/, "Z");
  const lease = await conn.leases.create({ id: uniquePart(), labels: { [GC_EXPIRE]: expires } }, opt(signal));
  if (lease.lease === undefined)
    throw new BerthError("Unknown", "the daemon created a lease but did not return it");
  const leased = conn.withLease(lease.lease.id);
  let prepared = false;
  try {
    await ensureUnpacked(leased, image, snapshotter, signal);
    let mounts: Mount[];
    try {
      mounts = (await leased.snapshots.prepare({ snapshotter, key: id, parent: image.chainId }, opt(signal)))
        .mounts;
      prepared = true;
    } catch (err) {
      if (isAlreadyExists(err)) {
        throw alreadyExists(`a snapshot named ${id} already exists in ${snapshotter}`);
      }
      throw err;
    }
    const [passwd, group] = await Promise.all([
      readRootfsFile(mounts, "/etc/passwd"),
      readRootfsFile(mounts, "/etc/group"),
    ]);
    const spec = buildRunSpec({
      ...options.spec,
      namespace: conn.namespace,
      id,
      image: image.runConfig,
      user: resolveUser(image.runConfig.User ?? "", { passwd, group }),
    });
    const labels: Record<string, string> = {
      ...(image.runConfig.Labels ?? {}),
      ...(options.labels ?? {}),
      [STOP_SIGNAL_LABEL]: image.runConfig.StopSignal || "SIGTERM",
    };
    const runtimeOptions =
      options.runtimeOptions ??
      (runtime === RUNC_RUNTIME ? { typeUrl: RUNC_OPTIONS_TYPE_URL, value: Buffer.alloc(0) } : undefined);
    const res = await leased.containers.create(
      {
        container: {
          id,
          labels,
          image: image.image.name,
          runtime: { name: runtime, options: runtimeOptions },
          spec: specToAny(spec),
          snapshotter,
          snapshotKey: id,
        },
      },
      opt(signal),
    );
    if (res.container === undefined) {
      throw new BerthError("Unknown", "the daemon created the container but did not return it");
    }
    return { container: res.container, spec, image };
  } catch (err) {
    // Only the lease holds the snapshot; removing it now saves waiting for GC.
    if (prepared) await leased.snapshots.remove({ snapshotter, key: id }).catch(() => undefined);
    throw err;
  } finally {
    // Not under the caller's signal: the lease goes even when the creation was cancelled.
    await conn.leases.delete({ id: lease.lease.id, sync: false }).catch(() => undefined);
  }
}

async function containerExists(conn: Connection, id: string, signal?: AbortSignal): Promise<boolean> {
  try {
    await conn.containers.get({ id }, opt(signal));
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** The container record `id`; NotFound ("container <id> not found") when there is none. */
export async function getContainer(
  conn: Connection,
  id: string,
  options: CallOptions = {},
): Promise<Container> {
  try {
    const res = await conn.containers.get({ id }, opt(options.signal));
    if (res.container !== undefined) return res.container;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  throw notFound(`container ${id} not found`);
}

/** Containers matching containerd filters (all when none), sorted by ID. */
export async function listContainers(
  conn: Connection,
  filters: string[] = [],
  options: CallOptions = {},
): Promise<Container[]> {
  const res = await conn.containers.list({ filters }, opt(options.signal));
  return [...res.containers].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The container's runtime spec. */
export function containerSpec(container: Container): RuntimeSpec {
  return specFromAny(container.spec, container.id);
}

/** The rootfs mounts of a container's snapshot, for Tasks.Create; empty when it has none. */
export async function containerRootfs(
  conn: Connection,
  container: Container,
  options: CallOptions = {},
): Promise<Mount[]> {
  if (container.snapshotKey === "") return [];
  if (container.snapshotter === "") {
    throw new BerthError(
      "InvalidArgument",
      `container ${container.id} has a snapshot key but no snapshotter: recreate it`,
    );
  }
  try {
    const res = await conn.snapshots.mounts(
      { snapshotter: container.snapshotter, key: container.snapshotKey },
      opt(options.signal),
    );
    return res.mounts;
  } catch (err) {
    if (isNotFound(err)) {
      throw notFound(
        `the rootfs snapshot ${container.snapshotKey} of container ${container.id} is gone (${container.snapshotter})`,
      );
    }
    throw err;
  }
}

export interface RemoveContainerOptions extends CallOptions {
  /** Keep the container's rootfs snapshot. */
  keepSnapshot?: boolean;
}

/**
 * Deletes the container record and, unless told to keep it, its own rootfs snapshot
 * (an active or view snapshot under its key; an image's committed snapshot is never
 * touched). The caller deletes the task first.
 */
export async function removeContainer(
  conn: Connection,
  container: Container,
  options: RemoveContainerOptions = {},
): Promise<void> {
  const { signal } = options;
  if (options.keepSnapshot !== true && container.snapshotKey !== "" && container.snapshotter !== "") {
    const snapshot = { snapshotter: container.snapshotter, key: container.snapshotKey };
    try {
      const info = (await conn.snapshots.stat(snapshot, opt(signal))).info;
      if (info !== undefined && info.kind !== Kind.COMMITTED)
        await conn.snapshots.remove(snapshot, opt(signal));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  try {
    await conn.containers.delete({ id: container.id }, opt(signal));
  } catch (err) {
    if (isNotFound(err)) throw notFound(`container ${container.id} not found`);
    throw err;
  }
}
