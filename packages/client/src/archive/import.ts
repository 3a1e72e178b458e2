// Import: load an image archive (OCI layout or Docker) into the daemon: blobs into the
// content store under a lease, gc labels on the documents, image records named as ctr
// names them, and the layers unpacked for this platform. The archive is read twice, once
// to learn its files and digests, once to copy the blobs it needs.

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import type { Image } from "@berth/api/containerd/services/images/v1/images";
import type { Descriptor } from "@berth/api/containerd/types/descriptor";
import tarStream from "tar-stream";
import type { Connection } from "../connection.js";
import { bytesSource, updateContentLabels, writeBlob } from "../content.js";
import { errorKind, errorMessage, invalidArgument } from "../errdefs.js";
import { sha256Digest } from "../identity.js";
import { type ContentSource, imageContent } from "../image-content.js";
import { childGcLabels, parseIndex, parseManifest } from "../manifests.js";
import { MediaType, isIndexType, isManifestType, refKey } from "../media-types.js";
import { type Platform, defaultPlatform, parsePlatform } from "../platforms.js";
import {
  type BlobProgress,
  type PullProgress,
  blobProgress,
  createLease,
  createOrUpdateImage,
} from "../pull.js";
import { loadRunnableImage } from "../tasks/image.js";
import { DEFAULT_SNAPSHOTTER, unpackLayers } from "../unpack.js";
import { type ArchiveFile, type ImportNaming, cleanEntryName, importedImages, readLayout } from "./layout.js";

/** JSON files up to this size are kept in memory during the first pass (containerd's manifest limit). */
const MAX_DOCUMENT_BYTES = 4 << 20;

export interface ImportOptions extends ImportNaming {
  /** `--index-name`: also keep the archive's index as an image of this name. */
  indexName?: string;
  /** Import every platform's content (default: only the platforms asked for, or this machine's). */
  allPlatforms?: boolean;
  platforms?: ReadonlyArray<Platform | string>;
  /** Unpack the images for this machine's platform (default true). */
  unpack?: boolean;
  snapshotter?: string;
  onProgress?: (event: PullProgress) => void;
  signal?: AbortSignal;
}

/** Imports the archive at `path` (a tar file, gzip-compressed or not) and returns the images made. */
export async function importArchive(
  conn: Connection,
  path: string,
  options: ImportOptions = {},
): Promise<Image[]> {
  const { signal } = options;
  const emit = options.onProgress ?? (() => undefined);
  const files = await listArchive(path, signal);
  const layout = readLayout(files);
  const platforms = (options.platforms ?? []).map((p) => (typeof p === "string" ? parsePlatform(p) : p));
  if (platforms.length === 0) platforms.push(defaultPlatform());
  const named = importedImages(layout.manifests, options);
  if (named.length === 0 && options.indexName === undefined) {
    throw invalidArgument(
      options.baseName !== undefined
        ? `no image in the archive is named under ${options.baseName}: check --base-name, or use --digests to import unnamed images`
        : "the archive names no image: use --digests (or --index-name) to import it",
    );
  }

  const source: ContentSource = {
    has: async (desc) => layout.generated.has(desc.digest) || layout.fileOf.has(desc.digest),
    read: async (desc) => {
      const data = layout.generated.get(desc.digest) ?? layout.fileOf.get(desc.digest)?.data;
      if (data === undefined)
        throw invalidArgument(`archive member for ${desc.digest} is too large for a document`);
      return data;
    },
    missing: (desc, what) =>
      invalidArgument(
        `the archive lacks ${what} ${desc.digest} (file blobs/${desc.digest.replace(":", "/")}): it was exported for other platforms; import with --platform, or export again with --all-platforms`,
      ),
  };
  // Everything the named images need, each blob once, children first.
  const blobs = new Map<string, Descriptor>();
  const documents = new Map<string, Buffer>();
  for (const image of named) {
    const content = await imageContent(source, image.name, image.target, {
      platforms,
      allPlatforms: options.allPlatforms === true,
    });
    for (const d of content.blobs) blobs.set(d.digest, d);
    for (const [k, v] of content.documents) documents.set(k, v);
  }

  const lease = await createLease(conn, signal);
  const leased = conn.withLease(lease);
  try {
    const event = (desc: Descriptor, status: BlobProgress["status"], offset: number) =>
      emit(blobProgress({ ...desc, annotations: {} }, status, offset));
    for (const d of blobs.values()) event(d, "waiting", 0);
    const write = async (desc: Descriptor, open: () => AsyncIterable<Uint8Array>) => {
      let opened = false;
      const result = await writeBlob(
        leased,
        desc,
        {
          open: async () => {
            if (opened)
              throw invalidArgument(
                `archive member for ${desc.digest} ended early: the archive is truncated`,
              );
            opened = true;
            return { offset: 0, body: open() };
          },
        },
        {
          ref: `import-${refKey({ mediaType: desc.mediaType, digest: desc.digest })}`,
          reopenAttempts: 0,
          ...(signal !== undefined ? { signal } : {}),
          onProgress: (offset) => event(desc, "importing", offset),
        },
      );
      event(desc, result === "exists" ? "exists" : "done", desc.size);
    };
    // Documents from memory; the rest streamed from the archive in a second pass.
    const streamed = new Map<string, Descriptor>();
    for (const desc of blobs.values()) {
      const data = documents.get(desc.digest) ?? layout.generated.get(desc.digest);
      if (data !== undefined) {
        await write(desc, () => bytesBody(data));
      } else {
        const file = layout.fileOf.get(desc.digest);
        if (file !== undefined) streamed.set(file.name, desc);
      }
    }
    if (streamed.size > 0) {
      await readArchive(path, signal, async (name, body) => {
        const desc = streamed.get(name);
        if (desc === undefined) return false;
        streamed.delete(name);
        await write(desc, () => body);
        return true;
      });
    }
    // What keeps the children alive: gc labels on every index and manifest.
    for (const [digest, data] of documents) {
      const desc = blobs.get(digest);
      if (desc === undefined) continue;
      const labels = isIndexType(desc.mediaType)
        ? childGcLabels(parseIndex(data, digest))
        : isManifestType(desc.mediaType)
          ? (({ config, layers }) => childGcLabels([config, ...layers]))(parseManifest(data, digest))
          : {};
      await updateContentLabels(leased, digest, labels, signal);
    }
    const made: Image[] = [];
    if (options.indexName !== undefined) {
      const desc = {
        mediaType: MediaType.ociIndex,
        digest: sha256Digest(layout.index),
        size: layout.index.length,
        annotations: {},
      };
      await write(desc, () => bytesBody(layout.index));
      await updateContentLabels(leased, desc.digest, childGcLabels(layout.manifests), signal);
      made.push(await createOrUpdateImage(leased, options.indexName, desc));
    }
    for (const image of named) made.push(await createOrUpdateImage(leased, image.name, image.target));
    if (options.unpack !== false) {
      const snapshotter = options.snapshotter ?? DEFAULT_SNAPSHOTTER;
      for (const image of named) {
        const runnable = await loadRunnableImage(leased, image.name, {
          platform: platforms[0] ?? defaultPlatform(),
          ...(signal !== undefined ? { signal } : {}),
        });
        await unpackLayers(leased, runnable.config, runnable.layers, runnable.diffIds, {
          snapshotter,
          onProgress: emit,
          ...(signal !== undefined ? { signal } : {}),
        });
      }
    }
    return made;
  } finally {
    await conn.leases.delete({ id: lease, sync: false }).catch(() => undefined);
  }
}

/**
 * Imports from a stream (stdin): it is spooled to a temporary file first, since the
 * archive is read twice.
 */
export async function importArchiveStream(
  conn: Connection,
  input: NodeJS.ReadableStream,
  options: ImportOptions = {},
): Promise<Image[]> {
  const dir = await mkdtemp(join(tmpdir(), "berth-import-"));
  try {
    const file = join(dir, "archive.tar");
    const handle = await open(file, "w", 0o600);
    try {
      await pipeline(
        input,
        handle.createWriteStream(),
        options.signal !== undefined ? { signal: options.signal } : {},
      );
    } finally {
      await handle.close().catch(() => undefined);
    }
    return await importArchive(conn, file, options);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** First pass: every regular file's name, size and digest, and the bytes of the small JSON ones. */
export async function listArchive(path: string, signal?: AbortSignal): Promise<Map<string, ArchiveFile>> {
  const files = new Map<string, ArchiveFile>();
  await readArchive(path, signal, async (name, body, size) => {
    const hash = createHash("sha256");
    const head: Buffer[] = [];
    let kept = 0;
    let first: Buffer | undefined;
    for await (const chunk of body) {
      const buf = Buffer.from(chunk);
      first ??= buf;
      hash.update(buf);
      if (size <= MAX_DOCUMENT_BYTES && kept <= MAX_DOCUMENT_BYTES) {
        head.push(buf);
        kept += buf.length;
      }
    }
    const data = Buffer.concat(head);
    const json = size <= MAX_DOCUMENT_BYTES && /^\s*[[{]/.test(data.subarray(0, 64).toString("latin1"));
    files.set(name, {
      name,
      size,
      digest: `sha256:${hash.digest("hex")}`,
      gzip: first !== undefined && first[0] === 0x1f && first[1] === 0x8b,
      ...(json ? { data } : {}),
    });
    return true;
  });
  return files;
}

/**
 * Reads the tar at `path` (gunzipping it when compressed), calling `onFile` for each
 * regular file; a file `onFile` does not consume (returns false) is skipped.
 */
async function readArchive(
  path: string,
  signal: AbortSignal | undefined,
  onFile: (name: string, body: AsyncIterable<Uint8Array>, size: number) => Promise<boolean>,
): Promise<void> {
  const gzip = await startsWithGzip(path);
  const extract = tarStream.extract();
  const input = createReadStream(path, signal !== undefined ? { signal } : {});
  const fail = (err: Error) => extract.destroy(err);
  input.on("error", fail);
  if (gzip) {
    const gunzip = createGunzip();
    gunzip.on("error", fail);
    input.pipe(gunzip).pipe(extract);
  } else {
    input.pipe(extract);
  }
  let entries = 0;
  try {
    for await (const entry of extract) {
      entries++;
      const { header } = entry;
      if (header.type === "file" || header.type === "contiguous-file") {
        const used = await onFile(
          cleanEntryName(header.name),
          entry as AsyncIterable<Uint8Array>,
          header.size ?? 0,
        );
        if (used) {
          // A consumer may stop early (a blob already stored): drain the rest.
          entry.resume();
          continue;
        }
      }
      entry.resume();
    }
  } catch (err) {
    // The daemon's errors (and cancellation) are not the archive's fault.
    if (errorKind(err) !== "Unknown" || signal?.aborted === true) throw err;
    throw invalidArgument(
      `cannot read ${path} as a tar archive (${errorMessage(err)}): give an archive made by berthctl images export, ctr images export or docker save`,
    );
  }
  if (entries === 0) throw invalidArgument(`${path} is an empty archive`);
}

async function startsWithGzip(path: string): Promise<boolean> {
  const handle = await open(path, "r");
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await handle.read(buf, 0, 2, 0);
    return bytesRead === 2 && buf[0] === 0x1f && buf[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

async function* bytesBody(data: Buffer): AsyncGenerator<Uint8Array> {
  yield* (await bytesSource(data).open(0)).body;
}
