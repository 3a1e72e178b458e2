// The walking differ: applies layer blobs from the content store onto snapshot mounts,
// and computes a layer from two mounts into the content store.
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { PassThrough, type Readable, Writable } from "node:stream";
import { finished, pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { invalidArgument, notImplemented } from "@berth/client/errdefs";
import type { NamespacedContentStore } from "../metadata/content.js";
import type { RequestContext } from "../metadata/context.js";
import type { Descriptor } from "../metadata/images.js";
import { readonlyMounts, withTempMount } from "../mount/mount-all.js";
import type { Mount } from "../mount/mount.js";
import { Sha256Tap, applyLayer, decompressIfNeeded } from "./apply.js";
import { writeDiff } from "./compare.js";

export const mediaTypes = {
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  // Uncompressed Docker layers: what `ctr images import` records for a docker-save layer.tar.
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  ociLayerNonDistributable: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  ociLayerNonDistributableGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  dockerForeignLayer: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
} as const;

const supported = new Set<string>(Object.values(mediaTypes));

/** How to apply onto a set of mounts without mounting, when the layout allows it. */
function directTarget(
  mounts: Mount[],
): { root: string; whiteouts: "overlay" | "remove"; parents: string[] } | null {
  if (mounts.length !== 1) return null;
  const m = mounts[0]!;
  if (m.type === "bind" && !m.options.includes("ro"))
    return { root: m.source, whiteouts: "remove", parents: [] };
  if (m.type === "overlay") {
    const upper = m.options.find((o) => o.startsWith("upperdir="));
    const lower = m.options.find((o) => o.startsWith("lowerdir="));
    const parents = lower ? lower.slice("lowerdir=".length).split(":") : [];
    if (upper) return { root: upper.slice("upperdir=".length), whiteouts: "overlay", parents };
  }
  return null;
}

export class Differ {
  constructor(private readonly content: NamespacedContentStore) {}

  async apply(ctx: RequestContext, desc: Descriptor, mounts: Mount[]): Promise<Descriptor> {
    if (!supported.has(desc.mediaType)) {
      if (desc.mediaType.includes("zstd"))
        throw notImplemented(`unsupported diff media type: ${desc.mediaType}: not implemented`);
      throw notImplemented(`unsupported diff media type: ${desc.mediaType}: not implemented`);
    }
    if (mounts.length === 0) throw invalidArgument("apply needs at least one mount");
    // Checks the namespace holds the blob.
    const reader = await this.content.reader(ctx, desc.digest);
    await reader.close();
    const raw: Readable = createReadStream(this.content.backend.blobPath(desc.digest), {
      highWaterMark: 1 << 20,
    });
    const tap = new Sha256Tap();
    const run = async (root: string, whiteouts: "overlay" | "remove", parents: string[]) => {
      const tar = decompressIfNeeded(raw, desc.mediaType);
      const plain = tar.pipe(tap);
      tar.on("error", (err: Error) => plain.destroy(err));
      // applyLayer reads to the end of the stream (padding included), so the tap's
      // digest covers every byte: that is the layer's diffID.
      await applyLayer(plain, root, { whiteouts, signal: ctx.signal, parents });
      await finished(plain);
    };
    const direct = directTarget(mounts);
    if (direct) await run(direct.root, direct.whiteouts, direct.parents);
    else await withTempMount(mounts, (dir: string) => run(dir, "remove", []));
    return { mediaType: mediaTypes.ociLayer, digest: tap.digest, size: tap.size, annotations: {} };
  }

  async diff(
    ctx: RequestContext,
    lower: Mount[],
    upper: Mount[],
    options: { mediaType: string; ref: string; labels: Record<string, string> },
  ): Promise<Descriptor> {
    const mediaType = options.mediaType || mediaTypes.ociLayerGzip;
    const compress = mediaType.endsWith("gzip");
    if (mediaType !== mediaTypes.ociLayer && !compress)
      throw notImplemented(`unsupported diff media type: ${mediaType}: not implemented`);
    const ref = options.ref || `diff-${Date.now()}-${randomBytes(6).toString("hex")}`;
    const writer = await this.content.writer(ctx, ref, 0, "");
    const uncompressed = new Sha256Tap();
    const compressed = new Sha256Tap();
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        writer.write(chunk).then(() => cb(), cb);
      },
    });
    const produce = async (lowerDir: string | null, upperDir: string) => {
      const tar = new PassThrough();
      const writing = writeDiff(lowerDir, upperDir, tar).then(
        () => tar.end(),
        (err: unknown) => tar.destroy(err as Error),
      );
      const piping = compress
        ? pipeline(tar, uncompressed, createGzip(), compressed, sink)
        : pipeline(tar, uncompressed, compressed, sink);
      await Promise.all([piping, writing]);
    };
    try {
      await withTempMount(readonlyMounts(upper), async (upperDir: string) => {
        if (lower.length === 0) await produce(null, upperDir);
        else await withTempMount(readonlyMounts(lower), (lowerDir: string) => produce(lowerDir, upperDir));
      });
      const diffID = uncompressed.digest;
      const digest = compressed.digest;
      const labels = { ...options.labels, "containerd.io/uncompressed": diffID };
      await writer.commit(compressed.size, digest, labels);
      return { mediaType, digest, size: compressed.size, annotations: {} };
    } catch (err) {
      await writer.close().catch(() => undefined);
      await this.content.abort(ctx, ref).catch(() => undefined);
      throw err;
    }
  }
}
