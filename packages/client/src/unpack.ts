// Unpacking an image's layers into snapshots through the Diff and Snapshots services, the
// way containerd's unpacker does it: one committed snapshot per layer, named by the chain
// ID of the layers up to it, so that GC, `ctr` and other clients find and share them.

import { randomBytes } from "node:crypto";
import type { Descriptor } from "@berth/api/containerd/types/descriptor";
import type { Mount } from "@berth/api/containerd/types/mount";
import type { Connection } from "./connection.js";
import { updateContentLabels } from "./content.js";
import { BerthError, errorMessage, invalidArgument, isAlreadyExists, isNotFound } from "./errdefs.js";
import { chainIds } from "./identity.js";
import { GC_REF_SNAPSHOT_PREFIX, SNAPSHOT_REF, UNCOMPRESSED } from "./labels.js";
import { isLayerType } from "./media-types.js";

export const DEFAULT_SNAPSHOTTER = "overlayfs";

export type UnpackStatus = "waiting" | "unpacking" | "exists" | "done";

export interface UnpackProgress {
  type: "unpack";
  /** 0-based position of the layer in the image. */
  layer: number;
  layers: number;
  /** The layer blob's digest. */
  digest: string;
  diffId: string;
  chainId: string;
  snapshotter: string;
  status: UnpackStatus;
}

export interface UnpackOptions {
  snapshotter?: string;
  signal?: AbortSignal;
  /**
   * The lease the unpack works under: a snapshot it finds already there (another image's)
   * is put in it first, so that removing that image cannot collect it meanwhile.
   */
  lease?: string;
  onProgress?(event: UnpackProgress): void;
  /**
   * Resolves once layer `i`'s blob is in the content store. Lets unpacking start while
   * later layers are still downloading; by default every blob is assumed present.
   */
  layerReady?(i: number): Promise<unknown>;
}

/** The fields of an image config that unpacking needs. */
export interface ImageConfig {
  os?: string;
  architecture?: string;
  variant?: string;
  rootfs?: { type?: string; diff_ids?: string[] };
}

export function parseImageConfig(data: Uint8Array, digest: string): ImageConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(data).toString("utf8"));
  } catch {
    throw invalidArgument(`image config ${digest} is not JSON: the image is malformed`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw invalidArgument(`image config ${digest} is not a JSON object: the image is malformed`);
  }
  return doc as ImageConfig;
}

/** The diff IDs of a config, checked against the number of layers of its manifest. */
export function diffIdsOf(config: ImageConfig, configDigest: string, layerCount: number): string[] {
  const ids = config.rootfs?.diff_ids;
  if (!Array.isArray(ids) || !ids.every((d) => typeof d === "string")) {
    throw invalidArgument(`image config ${configDigest} has no rootfs.diff_ids: the image is malformed`);
  }
  if (ids.length !== layerCount) {
    throw invalidArgument(
      `image config ${configDigest} lists ${ids.length} diff IDs for ${layerCount} layers: the image is malformed`,
    );
  }
  return ids;
}

/** containerd's "<nanoseconds>-<random>" part of extraction keys and lease IDs. */
export function uniquePart(): string {
  const nanos = Number(process.hrtime.bigint() % 1_000_000_000n);
  return `${nanos}-${randomBytes(3).toString("base64url")}`;
}

/**
 * Unpacks `layers` (with their `diffIds`, from the config) into the snapshotter and
 * labels the config blob with the top chain ID (`containerd.io/gc.ref.snapshot.<sn>`),
 * which keeps the snapshots alive as long as the image is. Returns the top chain ID.
 */
export async function unpackLayers(
  conn: Connection,
  config: Pick<Descriptor, "digest">,
  layers: readonly Descriptor[],
  diffIds: readonly string[],
  options: UnpackOptions = {},
): Promise<string> {
  const snapshotter = options.snapshotter ?? DEFAULT_SNAPSHOTTER;
  const { signal } = options;
  if (layers.length !== diffIds.length) {
    throw invalidArgument(`${diffIds.length} diff IDs for ${layers.length} layers: the image is malformed`);
  }
  const chain = chainIds(diffIds);
  const progress = (i: number, status: UnpackStatus) => {
    const layer = layers[i];
    if (layer === undefined) return;
    options.onProgress?.({
      type: "unpack",
      layer: i,
      layers: layers.length,
      digest: layer.digest,
      diffId: diffIds[i] ?? "",
      chainId: chain[i] ?? "",
      snapshotter,
      status,
    });
  };
  for (let i = 0; i < layers.length; i++) progress(i, "waiting");

  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i]!;
    const diffId = diffIds[i]!;
    const chainId = chain[i]!;
    const parent = chain[i - 1] ?? "";
    if (options.lease !== undefined) {
      await conn.leases.addResource(
        { id: options.lease, resource: { id: chainId, type: `snapshots/${snapshotter}` } },
        { signal },
      );
    }
    if (await snapshotExists(conn, snapshotter, chainId, signal)) {
      progress(i, "exists");
      continue;
    }
    if (!isLayerType(layer.mediaType)) {
      throw invalidArgument(
        `layer ${i} (${layer.digest}) has media type ${layer.mediaType}, which cannot be unpacked`,
      );
    }
    await options.layerReady?.(i);
    progress(i, "unpacking");
    const outcome = await applyLayer(conn, snapshotter, layer, diffId, chainId, parent, signal);
    await updateContentLabels(conn, layer.digest, { [UNCOMPRESSED]: diffId }, signal);
    progress(i, outcome === "committed" ? "done" : "exists");
  }

  const top = chain[chain.length - 1];
  if (top === undefined) throw invalidArgument(`image config ${config.digest} lists no layers`);
  await updateContentLabels(
    conn,
    config.digest,
    { [`${GC_REF_SNAPSHOT_PREFIX}${snapshotter}`]: top },
    signal,
  );
  return top;
}

async function snapshotExists(
  conn: Connection,
  snapshotter: string,
  key: string,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  try {
    await conn.snapshots.stat({ snapshotter, key }, opt(signal));
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw withContext(err, `cannot stat snapshot ${key} in ${snapshotter}`);
  }
}

/** Prepare → Apply → Commit of one layer; "exists" when another unpack committed it first. */
async function applyLayer(
  conn: Connection,
  snapshotter: string,
  layer: Descriptor,
  diffId: string,
  chainId: string,
  parent: string,
  signal: AbortSignal | undefined,
): Promise<"committed" | "exists"> {
  const labels = { [SNAPSHOT_REF]: chainId };
  let key = "";
  let mounts: Mount[] | undefined;
  for (let attempt = 1; attempt <= 3 && mounts === undefined; attempt++) {
    key = `extract-${uniquePart()} ${chainId}`;
    try {
      mounts = (await conn.snapshots.prepare({ snapshotter, key, parent, labels }, opt(signal))).mounts;
    } catch (err) {
      if (!isAlreadyExists(err)) {
        throw withContext(err, `cannot prepare a ${snapshotter} snapshot for layer ${layer.digest}`);
      }
      if (await snapshotExists(conn, snapshotter, chainId, signal)) return "exists";
    }
  }
  if (mounts === undefined) {
    throw new BerthError(
      "AlreadyExists",
      `cannot prepare a unique extraction snapshot for ${chainId}: retry the pull`,
    );
  }

  // Whatever goes wrong from here, the half-made snapshot is removed.
  const removeKey = () =>
    conn.snapshots.remove({ snapshotter, key }).then(
      () => undefined,
      () => undefined,
    );
  try {
    const res = await conn.diff.apply({ diff: layer, mounts }, opt(signal));
    const applied = res.applied?.digest ?? "";
    if (applied !== diffId) {
      throw new BerthError(
        "DataLoss",
        `layer ${layer.digest} unpacked to ${applied || "nothing"}, but the image config says its diff ID is ${diffId}: the image is corrupt; push it again`,
      );
    }
  } catch (err) {
    await removeKey();
    throw withContext(err, `cannot unpack layer ${layer.digest}`);
  }
  try {
    await conn.snapshots.commit({ snapshotter, name: chainId, key, labels }, opt(signal));
  } catch (err) {
    await removeKey();
    if (isAlreadyExists(err)) return "exists";
    throw withContext(err, `cannot commit snapshot ${chainId}`);
  }
  return "committed";
}

/** Prefixes a daemon error with what was being done, keeping its kind. */
function withContext(err: unknown, what: string): unknown {
  if (err instanceof BerthError) {
    if (err.message.startsWith("cannot ") || err.kind === "DataLoss") return err;
    return new BerthError(err.kind, `${what}: ${err.message}`, { cause: err });
  }
  if (err instanceof Error && err.name === "AbortError") return err;
  return new BerthError("Unknown", `${what}: ${errorMessage(err)}`, { cause: err });
}

function opt(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal !== undefined ? { signal } : {};
}
