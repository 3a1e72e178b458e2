// Export: write images from the daemon's content store into one tar archive in the OCI
// image layout that `ctr images import` and `docker load` read: oci-layout, index.json
// naming every image, blobs/sha256/<hex>, and Docker's manifest.json for the images
// exported for one platform.

import type { Writable } from "node:stream";
import tarStream from "tar-stream";
import type { Connection } from "../connection.js";
import { errorMessage, isNotFound, notFound } from "../errdefs.js";
import { imageContent, storeSource } from "../image-content.js";
import * as images from "../images.js";
import { type Platform, defaultPlatform, parsePlatform } from "../platforms.js";
import { type BlobProgress, blobProgress } from "../pull.js";
import {
  DOCKER_MANIFEST_FILE,
  type ExportedImage,
  INDEX_FILE,
  OCI_LAYOUT,
  OCI_LAYOUT_FILE,
  blobPath,
  dockerManifestJson,
  exportIndex,
} from "./layout.js";

export interface ExportOptions {
  /** Platforms to export out of indexes (default this machine's); ignored with `allPlatforms`. */
  platforms?: ReadonlyArray<Platform | string>;
  allPlatforms?: boolean;
  /** Leave Docker's manifest.json out. */
  skipManifestJson?: boolean;
  onProgress?: (event: BlobProgress) => void;
  signal?: AbortSignal;
}

/**
 * Writes the images named by `refs` into `output` as one archive; returns what was
 * exported. A function for `output` is called only once every image was found complete,
 * so a failed export leaves no file behind.
 */
export async function exportArchive(
  conn: Connection,
  refs: readonly string[],
  output: Writable | (() => Writable),
  options: ExportOptions = {},
): Promise<ExportedImage[]> {
  const { signal } = options;
  const sig = signal !== undefined ? { signal } : {};
  const emit = options.onProgress ?? (() => undefined);
  const platforms = (options.platforms ?? []).map((p) => (typeof p === "string" ? parsePlatform(p) : p));
  if (platforms.length === 0) platforms.push(defaultPlatform());
  const allPlatforms = options.allPlatforms === true;

  // Everything is checked before the first byte is written: a missing blob fails early.
  const exported: ExportedImage[] = [];
  const blobs = new Map<
    string,
    { mediaType: string; digest: string; size: number; annotations: Record<string, string> }
  >();
  for (const ref of refs) {
    const name = await images.resolveName(conn, ref, sig);
    const image = await images.get(conn, name, sig).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
      throw notFound(`${errorMessage(err)}: see berthctl images ls for the names`);
    });
    if (image.target === undefined) throw notFound(`image ${name} has no target: pull it again`);
    const content = await imageContent(storeSource(conn, name, signal), name, image.target, {
      platforms,
      allPlatforms,
    });
    for (const d of content.blobs) blobs.set(d.digest, d);
    const single = !allPlatforms && content.manifests.length === 1 ? content.manifests[0] : undefined;
    exported.push({
      name,
      target: image.target,
      ...(single !== undefined ? { manifest: { config: single.config, layers: single.layers } } : {}),
    });
  }

  const out = typeof output === "function" ? output() : output;
  const pack = tarStream.pack();
  const piping = new Promise<void>((resolve, reject) => {
    out.on("error", reject);
    out.on("finish", resolve);
    out.on("close", resolve);
    pack.on("error", reject);
  });
  pack.pipe(out);
  const mtime = new Date(0);
  const addFile = (name: string, data: Buffer) =>
    new Promise<void>((resolve, reject) => {
      pack.entry({ name, size: data.length, mode: 0o444, mtime }, data, (err) =>
        err ? reject(err) : resolve(),
      );
    });
  try {
    await addFile(OCI_LAYOUT_FILE, OCI_LAYOUT);
    const dirs = new Set<string>();
    for (const desc of blobs.values()) {
      const path = blobPath(desc.digest);
      const dir = path.slice(0, path.lastIndexOf("/"));
      if (!dirs.has(dir)) {
        for (const d of ["blobs", dir]) {
          if (dirs.has(d)) continue;
          dirs.add(d);
          pack.entry({ name: `${d}/`, type: "directory", mode: 0o755, mtime });
        }
      }
      const event = (status: BlobProgress["status"], offset: number) =>
        emit(blobProgress(desc, status, offset));
      event("exporting", 0);
      let entry: ReturnType<typeof pack.entry> | undefined;
      const done = new Promise<void>((resolve, reject) => {
        entry = pack.entry({ name: path, size: desc.size, mode: 0o444, mtime }, (err) =>
          err ? reject(err) : resolve(),
        );
      });
      const sink = entry as unknown as {
        write(data: Uint8Array): boolean;
        end(): void;
        once(e: "drain", f: () => void): void;
      };
      let written = 0;
      let reported = 0;
      for await (const res of conn.content.read({ digest: desc.digest, offset: 0, size: 0 }, sig)) {
        written += res.data.length;
        if (!sink.write(res.data)) await new Promise<void>((resolve) => sink.once("drain", resolve));
        if (written - reported >= 1 << 20) {
          reported = written;
          event("exporting", written);
        }
      }
      sink.end();
      await done;
      event("done", desc.size);
    }
    await addFile(INDEX_FILE, exportIndex(exported));
    const docker = options.skipManifestJson === true ? undefined : dockerManifestJson(exported);
    if (docker !== undefined) await addFile(DOCKER_MANIFEST_FILE, docker);
    pack.finalize();
    await piping;
  } catch (err) {
    pack.destroy(err as Error);
    throw err;
  }
  return exported;
}
