// The content an image record leads to in the daemon's content store, for the platforms
// asked: what export writes into an archive and push sends to a registry.

import type { Descriptor } from "@berth/api/containerd/types/descriptor";
import type { Connection } from "./connection.js";
import { contentInfo, readBlob } from "./content.js";
import { invalidArgument, notFound } from "./errdefs.js";
import { type PlatformDescriptor, parseIndex, parseManifest, plain } from "./manifests.js";
import { isIndexType, isManifestType } from "./media-types.js";
import { type Platform, formatPlatform, onlyPlatform } from "./platforms.js";

/** Where the walk reads documents from and learns which blobs exist: the store, or an archive. */
export interface ContentSource {
  has(desc: Descriptor): Promise<boolean>;
  read(desc: Descriptor): Promise<Buffer>;
  /** The error for content the source lacks. */
  missing(desc: Descriptor, what: string): Error;
}

/** The daemon's content store as a source for `imageContent`. */
export function storeSource(conn: Connection, name: string, signal?: AbortSignal): ContentSource {
  return {
    has: async (desc) => (await contentInfo(conn, desc.digest, signal)) !== undefined,
    read: (desc) => readBlob(conn, desc.digest, signal),
    missing: (desc, what) =>
      notFound(
        `${what} ${desc.digest} of image ${name} is not in the content store: pull the image again (with --all-platforms for every platform), or choose the platforms it has with --platform`,
      ),
  };
}

export interface ImageContentOptions {
  /** Platforms whose manifests are taken out of indexes; ignored with `allPlatforms`. */
  platforms: readonly Platform[];
  allPlatforms?: boolean;
}

export interface ImageManifest {
  descriptor: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageContent {
  /** Every blob to copy, each once, children before the documents that name them. */
  blobs: Descriptor[];
  /** The manifests reached, in index order. */
  manifests: ImageManifest[];
  /** JSON documents (indexes, manifests) read on the way, by digest. */
  documents: Map<string, Buffer>;
}

/**
 * Walks an image from `target`: indexes down to the manifests for the platforms (all of
 * them with `allPlatforms`), and each manifest's config and layers. Content that is
 * missing is an error naming it, with what to do about it.
 */
export async function imageContent(
  source: ContentSource,
  name: string,
  target: Descriptor,
  options: ImageContentOptions,
): Promise<ImageContent> {
  const matchers = options.platforms.map(onlyPlatform);
  const wanted = (child: PlatformDescriptor): boolean =>
    options.allPlatforms === true ||
    child.platform === undefined ||
    matchers.some((m) => m.match(child.platform as Platform));
  const out: ImageContent = { blobs: [], manifests: [], documents: new Map() };
  const seen = new Set<string>();
  const add = (desc: Descriptor) => {
    if (seen.has(desc.digest)) return;
    seen.add(desc.digest);
    out.blobs.push(plain(desc));
  };
  const document = async (desc: Descriptor, what: string): Promise<Buffer> => {
    if (!(await source.has(desc))) throw source.missing(desc, what);
    const data = await source.read(desc);
    out.documents.set(desc.digest, data);
    return data;
  };

  const walk = async (desc: Descriptor, depth: number): Promise<void> => {
    if (depth > 4) throw invalidArgument(`image ${name} nests indexes too deeply`);
    if (isIndexType(desc.mediaType)) {
      const children = parseIndex(await document(desc, "index"), desc.digest).filter(wanted);
      if (children.length === 0) {
        const asked = options.platforms.map(formatPlatform).join(", ");
        throw notFound(`image ${name} has no manifest for ${asked}: choose another with --platform`);
      }
      for (const child of children) await walk(plain(child), depth + 1);
      add(desc);
      return;
    }
    if (!isManifestType(desc.mediaType)) {
      throw invalidArgument(
        `image ${name} points to ${desc.mediaType || "an unknown media type"}, not an index or manifest`,
      );
    }
    const manifest = parseManifest(await document(desc, "manifest"), desc.digest);
    for (const blob of [manifest.config, ...manifest.layers]) {
      if (!(await source.has(blob))) throw source.missing(blob, "blob");
      add(blob);
    }
    add(desc);
    out.manifests.push({ descriptor: plain(desc), config: manifest.config, layers: manifest.layers });
  };
  await walk(target, 0);
  return out;
}
