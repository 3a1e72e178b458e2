// What a container needs from an image: its record, the manifest for this platform, the
// config (how to run it) and the chain ID of its layers (the committed snapshot the
// container's rootfs is prepared on), unpacking the layers first when the snapshotter
// does not have them yet, as `ctr run` does.

import type { Image } from "@berth/api/containerd/services/images/v1/images";
import type { Descriptor } from "@berth/api/containerd/types/descriptor";
import type { Connection } from "../connection.js";
import { readBlob } from "../content.js";
import { invalidArgument, isNotFound, notFound } from "../errdefs.js";
import { chainId } from "../identity.js";
import * as images from "../images.js";
import { parseIndex, parseManifest, plain, platformChildren } from "../manifests.js";
import { isIndexType, isManifestType } from "../media-types.js";
import { type Platform, defaultPlatform, formatPlatform, onlyPlatform } from "../platforms.js";
import { DEFAULT_SNAPSHOTTER, diffIdsOf, parseImageConfig, unpackLayers } from "../unpack.js";
import type { ImageRunConfig } from "./spec.js";

export interface RunnableImage {
  image: Image;
  /** The manifest chosen for the platform. */
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
  diffIds: string[];
  /** Chain ID of all layers: the key of the committed snapshot at the top. */
  chainId: string;
  /** The config section of the image config (empty when the image has none). */
  runConfig: ImageRunConfig;
}

export interface ImageOptions {
  platform?: Platform;
  signal?: AbortSignal;
}

/** The image named `ref` (as stored, or in its normalised form) and how to run it. */
export async function loadRunnableImage(
  conn: Connection,
  ref: string,
  options: ImageOptions = {},
): Promise<RunnableImage> {
  const { signal } = options;
  const name = await images.resolveName(conn, ref, { ...(signal !== undefined ? { signal } : {}) });
  let image: Image;
  try {
    image = await images.get(conn, name, { ...(signal !== undefined ? { signal } : {}) });
  } catch (err) {
    if (isNotFound(err)) throw notFound(`image ${ref} not found`);
    throw err;
  }
  if (image.target === undefined) throw invalidArgument(`image ${name} has no target`);
  const platform = options.platform ?? defaultPlatform();
  const matcher = onlyPlatform(platform);
  let desc = image.target;
  for (let depth = 0; isIndexType(desc.mediaType); depth++) {
    if (depth > 4) throw invalidArgument(`image ${name}: indexes nest too deeply`);
    const children = parseIndex(await readBlob(conn, desc.digest, signal), desc.digest);
    const chosen = platformChildren(children, matcher)[0];
    if (chosen === undefined) throw notFound(`image ${name} has no manifest for ${formatPlatform(platform)}`);
    desc = plain(chosen);
  }
  if (!isManifestType(desc.mediaType)) {
    throw invalidArgument(`image ${name} points at ${desc.mediaType}, not a manifest or index`);
  }
  const manifest = parseManifest(await readBlob(conn, desc.digest, signal), desc.digest);
  const configData = await readBlob(conn, manifest.config.digest, signal);
  const config = parseImageConfig(configData, manifest.config.digest);
  const diffIds = diffIdsOf(config, manifest.config.digest, manifest.layers.length);
  const section = (config as { config?: unknown }).config;
  return {
    image,
    manifest: desc,
    config: manifest.config,
    layers: manifest.layers,
    diffIds,
    chainId: chainId(diffIds),
    runConfig: runConfigOf(section),
  };
}

/** The typed fields of an image config's `config` section; anything malformed is left out. */
export function runConfigOf(section: unknown): ImageRunConfig {
  if (typeof section !== "object" || section === null) return {};
  const s = section as Record<string, unknown>;
  const strings = (v: unknown): string[] | undefined =>
    Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : undefined;
  const out: ImageRunConfig = {};
  if (typeof s.User === "string") out.User = s.User;
  const env = strings(s.Env);
  if (env !== undefined) out.Env = env;
  const entrypoint = strings(s.Entrypoint);
  if (entrypoint !== undefined) out.Entrypoint = entrypoint;
  const cmd = strings(s.Cmd);
  if (cmd !== undefined) out.Cmd = cmd;
  if (typeof s.WorkingDir === "string") out.WorkingDir = s.WorkingDir;
  if (typeof s.StopSignal === "string") out.StopSignal = s.StopSignal;
  if (typeof s.Labels === "object" && s.Labels !== null) {
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(s.Labels)) if (typeof v === "string") labels[k] = v;
    out.Labels = labels;
  }
  return out;
}

/** Unpacks the image into `snapshotter` unless its top snapshot is already there. */
export async function ensureUnpacked(
  conn: Connection,
  image: RunnableImage,
  snapshotter: string = DEFAULT_SNAPSHOTTER,
  signal?: AbortSignal,
): Promise<void> {
  try {
    await conn.snapshots.stat({ snapshotter, key: image.chainId }, signal !== undefined ? { signal } : {});
    return;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  await unpackLayers(conn, image.config, image.layers, image.diffIds, {
    snapshotter,
    ...(signal !== undefined ? { signal } : {}),
  });
}
