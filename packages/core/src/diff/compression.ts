import { createHash } from "node:crypto";
import { PassThrough, Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { invalidArgument, notImplemented } from "@berth/client/errdefs";

// Layer blobs come as plain tar or gzip-compressed tar. The media type says which, but
// like containerd the stream's magic bytes decide: a "tar" that is really gzip still
// unpacks, and a compression we cannot read fails with a clear error, not a tar error.

const gzipMagic = [0x1f, 0x8b];
const zstdMagic = [0x28, 0xb5, 0x2f, 0xfd];

/** Media types of layers this package can read, compressed or not. */
const layerMediaType =
  /^application\/vnd\.(oci\.image\.layer(\.nondistributable)?\.v1\.tar(\+gzip|\+zstd)?|docker\.image\.rootfs\.(diff|foreign\.diff)\.tar(\.gzip)?)$/;

/**
 * The uncompressed tar stream of a layer blob. Throws NotImplemented for zstd layers and
 * InvalidArgument for media types that are not layers; a zstd stream behind another
 * media type fails the returned stream with NotImplemented.
 */
export function decompressIfNeeded(stream: Readable, mediaType: string): Readable {
  if (/zstd/.test(mediaType)) throw notImplemented(`unsupported layer compression in ${mediaType}: zstd`);
  if (mediaType !== "" && !layerMediaType.test(mediaType)) {
    throw invalidArgument(`unsupported layer media type ${mediaType}`);
  }
  const out = new PassThrough();
  unpack(stream, mediaType, out).catch((err: unknown) => {
    stream.destroy();
    out.destroy(err instanceof Error ? err : new Error(String(err)));
  });
  return out;
}

async function unpack(stream: Readable, mediaType: string, out: PassThrough): Promise<void> {
  // Enough bytes to tell the formats apart, then the same bytes and the rest, in order.
  const source = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const headChunks: Buffer[] = [];
  let headLength = 0;
  while (headLength < zstdMagic.length) {
    const r = await source.next();
    if (r.done) break;
    headChunks.push(r.value);
    headLength += r.value.length;
  }
  const head = Buffer.concat(headChunks);
  if (startsWith(head, zstdMagic))
    throw notImplemented(`unsupported layer compression (zstd) in a ${mediaType} blob`);
  async function* everything(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    for (;;) {
      const r = await source.next();
      if (r.done) return;
      yield r.value;
    }
  }
  const all = Readable.from(everything(), { objectMode: false });
  if (startsWith(head, gzipMagic)) await pipeline(all, createGunzip({ chunkSize: 256 * 1024 }), out);
  else await pipeline(all, out);
}

function startsWith(buf: Buffer, magic: number[]): boolean {
  return buf.length >= magic.length && magic.every((b, i) => buf[i] === b);
}

/**
 * A pass-through that hashes and counts what flows through it: put it on the
 * uncompressed stream and `digest` is the layer's diffID once the stream has ended.
 */
export class Sha256Tap extends Transform {
  private readonly hash = createHash("sha256");
  private result = "";
  size = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.result = `sha256:${this.hash.digest("hex")}`;
    callback();
  }

  /** "sha256:<hex>" of everything that passed; throws before the stream has ended. */
  get digest(): string {
    if (this.result === "") throw new Error("digest read before the stream ended");
    return this.result;
  }
}
