// Image records in the daemon's image store, and what their content says about them
// (platforms, size), read the way `ctr images ls` reads them.

import type { Image } from "@berth/api/containerd/services/images/v1/images";
import type { Descriptor } from "@berth/api/containerd/types/descriptor";
import type { Connection } from "./connection.js";
import { readBlob } from "./content.js";
import { isNotFound, notFound } from "./errdefs.js";
import { parseIndex, parseManifest, plain, platformChildren } from "./manifests.js";
import { isConfigType, isIndexType, isManifestType } from "./media-types.js";
import { type Platform, defaultPlatform, formatPlatform, normalize, onlyPlatform } from "./platforms.js";
import { formatReference, parseReference } from "./remotes/reference.js";
import { parseImageConfig } from "./unpack.js";

export type { Image };

export interface CallOptions {
  signal?: AbortSignal;
}

/** Images whose records match containerd filters (all when none are given), sorted by name. */
export async function list(
  conn: Connection,
  filters: string[] = [],
  options: CallOptions = {},
): Promise<Image[]> {
  const res = await conn.images.list({ filters }, opt(options.signal));
  return [...res.images].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The image record named `name`; NotFound when there is none. */
export async function get(conn: Connection, name: string, options: CallOptions = {}): Promise<Image> {
  try {
    const res = await conn.images.get({ name }, opt(options.signal));
    if (res.image !== undefined) return res.image;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  throw notFound(`image ${name} not found`);
}

export interface RemoveOptions extends CallOptions {
  /** Wait for garbage collection to delete what only this image held (content, snapshots). */
  sync?: boolean;
}

/** Deletes an image record; NotFound when there is none. */
export async function remove(conn: Connection, name: string, options: RemoveOptions = {}): Promise<void> {
  try {
    await conn.images.delete({ name, sync: options.sync ?? false }, opt(options.signal));
  } catch (err) {
    if (isNotFound(err)) throw notFound(`image ${name} not found`);
    throw err;
  }
}

/**
 * The name to look an image up by: `name` itself when a record has it, else its
 * normalised form (`busybox` → `docker.io/library/busybox:latest`) when it parses as a
 * reference.
 */
export async function resolveName(
  conn: Connection,
  name: string,
  options: CallOptions = {},
): Promise<string> {
  let normalised: string | undefined;
  try {
    normalised = formatReference(parseReference(name));
  } catch {
    return name;
  }
  if (normalised === name) return name;
  try {
    await conn.images.get({ name }, opt(options.signal));
    return name;
  } catch (err) {
    if (isNotFound(err)) return normalised;
    throw err;
  }
}

export interface ImageSummary {
  /** Platforms the image offers, "os/arch[/variant]", sorted; empty when unknown. */
  platforms: string[];
  /**
   * Bytes of the target, the manifest for `platform` and its config and layers (what
   * `ctr images ls` shows); undefined when some of that content is missing.
   */
  size: number | undefined;
}

/** Platforms and size of an image, from its content. */
export async function summarize(
  conn: Connection,
  image: Image,
  options: CallOptions & { platform?: Platform } = {},
): Promise<ImageSummary> {
  const target = image.target;
  if (target === undefined) return { platforms: [], size: undefined };
  const [platforms, size] = await Promise.all([
    imagePlatforms(conn, target, options.signal, 0).catch(() => [] as string[]),
    imageSize(conn, target, options.platform ?? defaultPlatform(), options.signal).catch(() => undefined),
  ]);
  return { platforms: [...new Set(platforms)].sort(), size };
}

async function imagePlatforms(
  conn: Connection,
  desc: Descriptor,
  signal: AbortSignal | undefined,
  depth: number,
): Promise<string[]> {
  if (depth > 4) return [];
  if (isIndexType(desc.mediaType)) {
    const children = parseIndex(await readBlob(conn, desc.digest, signal), desc.digest);
    const out: string[] = [];
    for (const child of children) {
      if (child.platform !== undefined) {
        if (child.platform.os !== "unknown" && child.platform.architecture !== "unknown") {
          out.push(formatPlatform(child.platform));
        }
      } else {
        out.push(...(await imagePlatforms(conn, plain(child), signal, depth + 1).catch(() => [])));
      }
    }
    return out;
  }
  if (isManifestType(desc.mediaType)) {
    const manifest = parseManifest(await readBlob(conn, desc.digest, signal), desc.digest);
    return imagePlatforms(conn, manifest.config, signal, depth + 1);
  }
  if (isConfigType(desc.mediaType)) {
    const config = parseImageConfig(await readBlob(conn, desc.digest, signal), desc.digest);
    if (typeof config.os !== "string" || typeof config.architecture !== "string") return [];
    return [formatPlatform(normalize({ os: config.os, architecture: config.architecture }))];
  }
  return [];
}

async function imageSize(
  conn: Connection,
  target: Descriptor,
  platform: Platform,
  signal: AbortSignal | undefined,
): Promise<number> {
  const matcher = onlyPlatform(platform);
  let size = 0;
  let desc = target;
  for (let depth = 0; isIndexType(desc.mediaType); depth++) {
    if (depth > 4) throw notFound("indexes nest too deeply");
    size += desc.size;
    const chosen = platformChildren(
      parseIndex(await readBlob(conn, desc.digest, signal), desc.digest),
      matcher,
    )[0];
    if (chosen === undefined) throw notFound(`no manifest for ${formatPlatform(platform)}`);
    desc = plain(chosen);
  }
  size += desc.size;
  if (!isManifestType(desc.mediaType)) return size;
  const manifest = parseManifest(await readBlob(conn, desc.digest, signal), desc.digest);
  size += manifest.config.size;
  for (const layer of manifest.layers) size += layer.size;
  return size;
}

function opt(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal !== undefined ? { signal } : {};
}
