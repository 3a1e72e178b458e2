// Push: send an image from the daemon's content store to a registry, layers and config
// first, then the manifests, and the top manifest or index last under the tag, so the
// tag never names content the registry lacks.

import type { Descriptor } from "@berth/api/containerd/types/descriptor";
import type { Connection } from "./connection.js";
import { readBlob } from "./content.js";
import { errorMessage, isNotFound, notFound } from "./errdefs.js";
import { imageContent, storeSource } from "./image-content.js";
import * as images from "./images.js";
import { Limiter } from "./limiter.js";
import { plain } from "./manifests.js";
import { isIndexType, isManifestType } from "./media-types.js";
import { type Platform, defaultPlatform, parsePlatform } from "./platforms.js";
import { type BlobProgress, blobProgress, resolverFor } from "./pull.js";
import type { FetchFunction } from "./remotes/auth.js";
import type { HostsConfig } from "./remotes/hosts.js";
import { formatReference, parseReference } from "./remotes/reference.js";
import type { Resolver } from "./remotes/resolver.js";
import { loadRunnableImage } from "./tasks/image.js";

export interface PushOptions {
  /** Push only this platform's manifest (out of an index) under the tag. */
  platform?: Platform | string;
  hosts?: HostsConfig;
  plainHttp?: boolean;
  resolver?: Resolver;
  fetch?: FetchFunction;
  /** Blobs uploaded at once (default 3). */
  concurrency?: number;
  onProgress?: (event: BlobProgress) => void;
  signal?: AbortSignal;
}

export interface PushResult {
  /** The reference pushed to, normalised. */
  name: string;
  /** What the tag now names. */
  descriptor: Descriptor;
}

/**
 * Pushes the local image `local` (default: `remote`) to `remote`. Without a platform the
 * whole image goes (every platform of an index, whose content must all be here).
 */
export async function push(
  conn: Connection,
  remote: string,
  options: PushOptions & { local?: string } = {},
): Promise<PushResult> {
  const { signal } = options;
  const reference = parseReference(remote);
  const name = formatReference(reference);
  const localName = await images.resolveName(conn, options.local ?? remote, opt(signal));
  const image = await images.get(conn, localName, opt(signal)).catch((err: unknown) => {
    if (!isNotFound(err)) throw err;
    throw notFound(
      `${errorMessage(err)}: pull or import it first, or tag a local image with berthctl images tag`,
    );
  });
  let target = image.target;
  if (target === undefined) throw notFound(`image ${localName} has no target: pull it again`);
  const platform = typeof options.platform === "string" ? parsePlatform(options.platform) : options.platform;
  if (platform !== undefined)
    target = (await loadRunnableImage(conn, localName, { platform, ...opt(signal) })).manifest;
  const content = await imageContent(storeSource(conn, localName, signal), localName, target, {
    platforms: [platform ?? defaultPlatform()],
    allPlatforms: platform === undefined,
  });
  const resolver = resolverFor(options);
  const pusher = await resolver.pusher(reference);
  const emit = options.onProgress ?? (() => undefined);
  const event = (desc: Descriptor, status: BlobProgress["status"], offset: number) =>
    emit(blobProgress(desc, status, offset));

  const documents = (d: Descriptor) => isManifestType(d.mediaType) || isIndexType(d.mediaType);
  const blobs = content.blobs.filter((d) => !documents(d));
  for (const d of content.blobs) event(d, "waiting", 0);
  const limiter = new Limiter(Math.max(1, options.concurrency ?? 3));
  const abort = new AbortController();
  const inner = signal !== undefined ? AbortSignal.any([signal, abort.signal]) : abort.signal;
  await Promise.all(
    blobs.map((desc) =>
      limiter
        .run(async () => {
          if (await pusher.exists(desc, { signal: inner })) {
            event(desc, "exists", desc.size);
            return;
          }
          event(desc, "uploading", 0);
          await pusher.pushBlob(
            desc,
            () => countedRead(conn, desc, inner, (n) => event(desc, "uploading", n)),
            {
              signal: inner,
            },
          );
          event(desc, "done", desc.size);
        })
        .catch((err: unknown) => {
          abort.abort(err);
          throw err;
        }),
    ),
  );
  // Manifests before the indexes that list them; the image's own target last, tagged.
  for (const desc of content.blobs.filter(documents)) {
    const data = content.documents.get(desc.digest) ?? (await readBlob(conn, desc.digest, signal));
    const top = desc.digest === target.digest;
    if (!top && (await pusher.exists(desc, opt(signal)))) {
      event(desc, "exists", desc.size);
      continue;
    }
    event(desc, "uploading", 0);
    await pusher.pushManifest(
      desc,
      data,
      top ? (reference.digest === undefined ? reference.tag : undefined) : undefined,
      opt(signal),
    );
    event(desc, "done", desc.size);
  }
  return { name, descriptor: plain(target) };
}

/** A blob's bytes from the content store, reporting how many have gone. */
async function* countedRead(
  conn: Connection,
  desc: Descriptor,
  signal: AbortSignal,
  onProgress: (offset: number) => void,
): AsyncGenerator<Uint8Array> {
  let sent = 0;
  let last = 0;
  for await (const res of conn.content.read({ digest: desc.digest, offset: 0, size: 0 }, { signal })) {
    sent += res.data.length;
    yield res.data;
    if (sent - last >= 1 << 20 || sent === desc.size) {
      last = sent;
      onProgress(sent);
    }
  }
}

function opt(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal !== undefined ? { signal } : {};
}
