import { type Hash, createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import {
  type FileHandle,
  chmod,
  lstat,
  mkdir,
  open,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import {
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  notFound,
  unavailable,
} from "@berth/client/errdefs";
import { formatNanos, fromStored, nowStored, toStored } from "../metadata/time.js";
import { hasErrno } from "../sys/libc.js";
import { digestHex, isDigest } from "./digest.js";
import {
  BlobExistsError,
  type ContentInfo,
  type ContentReader,
  type ContentStore,
  type ContentWriter,
  type IngestStatus,
  type WriterOptions,
} from "./store.js";

// A content store in a directory, laid out as containerd's content/local does:
//
//   <root>/blobs/sha256/<hex>                    committed, read-only blobs
//   <root>/ingest/<sha256(ref) hex>/ref          the ingest's ref, for listing
//                                  /data         bytes received so far
//                                  /total        expected size, when known
//                                  /expected     expected digest, when known
//                                  /startedat    RFC 3339 timestamps
//                                  /updatedat
//
// Everything needed to resume an ingest is on disk, so a restarted daemon picks up where
// the old one stopped. Only the per-ref writer lock lives in memory.

/** Who holds a ref: since when, and, once its writer is closing, that close. */
interface RefLock {
  since: Date;
  closing?: Promise<void>;
}

export class LocalContentStore implements ContentStore {
  private readonly locks = new Map<string, RefLock>();

  private constructor(readonly root: string) {}

  static async open(root: string): Promise<LocalContentStore> {
    await mkdir(join(root, "blobs", "sha256"), { recursive: true });
    await mkdir(join(root, "ingest"), { recursive: true });
    // Staging and trash directories left by a crash are never resumable.
    for (const name of await readdir(join(root, "ingest"))) {
      if (name.startsWith(".")) await rm(join(root, "ingest", name), { recursive: true, force: true });
    }
    return new LocalContentStore(root);
  }

  blobPath(digest: string): string {
    return join(this.root, "blobs", "sha256", digestHex(digest));
  }

  async info(digest: string): Promise<ContentInfo> {
    const path = this.blobPath(digest);
    try {
      return blobInfo(digest, await stat(path));
    } catch (err) {
      if (hasErrno(err, "ENOENT")) throw notFound(`content ${digest}: not found`);
      throw err;
    }
  }

  async list(): Promise<ContentInfo[]> {
    const dir = join(this.root, "blobs", "sha256");
    const infos: ContentInfo[] = [];
    for (const name of await readdir(dir)) {
      const digest = `sha256:${name}`;
      if (!isDigest(digest)) continue;
      try {
        infos.push(blobInfo(digest, await stat(join(dir, name))));
      } catch (err) {
        // Deleted while we listed.
        if (!hasErrno(err, "ENOENT")) throw err;
      }
    }
    return infos;
  }

  async delete(digest: string): Promise<void> {
    try {
      await unlink(this.blobPath(digest));
    } catch (err) {
      if (hasErrno(err, "ENOENT")) throw notFound(`content ${digest}: not found`);
      throw err;
    }
  }

  async reader(digest: string): Promise<ContentReader> {
    let file: FileHandle;
    try {
      file = await open(this.blobPath(digest), "r");
    } catch (err) {
      if (hasErrno(err, "ENOENT")) throw notFound(`content ${digest}: not found`);
      throw err;
    }
    const { size } = await file.stat();
    return new LocalContentReader(file, size);
  }

  async writer(ref: string, options: WriterOptions = {}): Promise<ContentWriter> {
    if (ref === "") throw invalidArgument("ref must not be empty");
    const total = options.total ?? 0;
    const expected = options.expected ?? "";
    if (!Number.isSafeInteger(total) || total < 0) throw invalidArgument(`invalid total size ${total}`);
    if (expected !== "" && (await exists(this.blobPath(expected)))) {
      throw alreadyExists(`content ${expected}: already exists`);
    }
    const lock = await this.lock(ref);
    try {
      return await this.openIngest(ref, total, expected, lock);
    } catch (err) {
      this.unlock(ref, lock);
      throw err;
    }
  }

  async status(ref: string): Promise<IngestStatus> {
    const status = await readIngest(this.ingestPath(ref));
    if (!status || status.ref !== ref) throw notFound(`ingest ${ref}: not found`);
    return status;
  }

  async listStatuses(): Promise<IngestStatus[]> {
    const dir = join(this.root, "ingest");
    const statuses: IngestStatus[] = [];
    for (const name of await readdir(dir)) {
      if (!/^[0-9a-f]{64}$/.test(name)) continue;
      const status = await readIngest(join(dir, name));
      if (status) statuses.push(status);
    }
    return statuses;
  }

  async abort(ref: string): Promise<void> {
    const path = this.ingestPath(ref);
    try {
      await lstat(path);
    } catch (err) {
      if (hasErrno(err, "ENOENT")) throw notFound(`ingest ${ref}: not found`);
      throw err;
    }
    // Renamed aside first, so a crash mid-removal never leaves a half-deleted ingest
    // that still looks resumable.
    const trash = join(this.root, "ingest", `.abort-${randomBytes(8).toString("hex")}`);
    await rename(path, trash);
    await rm(trash, { recursive: true, force: true });
  }

  private ingestPath(ref: string): string {
    return join(this.root, "ingest", createHash("sha256").update(ref).digest("hex"));
  }

  /**
   * Takes the ref's lock. A writer that is closing (its stream ended) still syncs its
   * file for a moment; that close is waited for, so a client resuming the ref right after
   * its stream closed gets the ingest rather than Unavailable, as with containerd, whose
   * close is done before its stream ends. A writer still open means Unavailable.
   */
  private async lock(ref: string): Promise<RefLock> {
    for (;;) {
      const held = this.locks.get(ref);
      if (!held) break;
      if (!held.closing) {
        const ms = Date.now() - held.since.getTime();
        throw unavailable(`ref ${ref} locked for ${ms}ms (since ${held.since.toISOString()})`);
      }
      await held.closing;
    }
    const lock: RefLock = { since: new Date() };
    this.locks.set(ref, lock);
    return lock;
  }

  private unlock(ref: string, lock: RefLock): void {
    if (this.locks.get(ref) === lock) this.locks.delete(ref);
  }

  private async openIngest(
    ref: string,
    total: number,
    expected: string,
    lock: RefLock,
  ): Promise<LocalContentWriter> {
    const path = this.ingestPath(ref);
    let status = await readIngest(path);
    if (status) {
      if (status.ref !== ref) throw new Error(`ingest ${path} holds ref ${status.ref}, not ${ref}`);
      if (total > 0 && status.total > 0 && total !== status.total) {
        throw failedPrecondition(`provided total differs from status: ${total} != ${status.total}`);
      }
      if (total > 0 && status.total === 0) await writeFile(join(path, "total"), String(total));
      if (expected !== "" && expected !== status.expected) await writeFile(join(path, "expected"), expected);
      status = {
        ...status,
        total: total || status.total,
        expected: expected || status.expected,
      };
    } else {
      // Whatever is there has no ref or no data and cannot be resumed.
      await rm(path, { recursive: true, force: true });
      const now = fromStored(nowStored());
      // Built aside and renamed into place, so an ingest directory is either whole or absent.
      const staging = join(this.root, "ingest", `.new-${randomBytes(8).toString("hex")}`);
      await mkdir(staging);
      try {
        await writeFile(join(staging, "ref"), ref);
        if (total > 0) await writeFile(join(staging, "total"), String(total));
        if (expected !== "") await writeFile(join(staging, "expected"), expected);
        await writeFile(join(staging, "startedat"), toStored(now));
        await writeFile(join(staging, "updatedat"), toStored(now));
        await writeFile(join(staging, "data"), "");
        await rename(staging, path);
      } catch (err) {
        await rm(staging, { recursive: true, force: true });
        throw err;
      }
      status = { ref, offset: 0, total, expected, startedAt: now, updatedAt: now };
    }

    // A resumed ingest re-hashes what it already has, so the digest covers every byte.
    const hash = createHash("sha256");
    const dataPath = join(path, "data");
    let offset = 0;
    for await (const chunk of createReadStream(dataPath)) {
      hash.update(chunk as Buffer);
      offset += (chunk as Buffer).length;
    }
    const file = await open(dataPath, "r+");
    return new LocalContentWriter(
      this,
      path,
      file,
      hash,
      { ...status, offset },
      {
        release: () => this.unlock(ref, lock),
        closing: (done) => {
          lock.closing ??= done;
        },
      },
    );
  }
}

class LocalContentReader implements ContentReader {
  constructor(
    private readonly file: FileHandle,
    readonly size: number,
  ) {}

  async readAt(offset: number, length: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(offset) || offset < 0) throw invalidArgument(`invalid offset ${offset}`);
    if (!Number.isSafeInteger(length) || length < 0) throw invalidArgument(`invalid length ${length}`);
    const want = Math.max(0, Math.min(length, this.size - offset));
    const buf = Buffer.alloc(want);
    let filled = 0;
    while (filled < want) {
      const { bytesRead } = await this.file.read(buf, filled, want - filled, offset + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buf.subarray(0, filled);
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}

class LocalContentWriter implements ContentWriter {
  readonly ref: string;
  private file: FileHandle | undefined;
  private current: IngestStatus;
  private committed = "";
  // Calls are serialised: a write must land at the offset the previous one left.
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: LocalContentStore,
    private readonly path: string,
    file: FileHandle,
    private hash: Hash,
    status: IngestStatus,
    private readonly lock: { release(): void; closing(done: Promise<void>): void },
  ) {
    this.ref = status.ref;
    this.file = file;
    this.current = status;
  }

  async status(): Promise<IngestStatus> {
    return { ...this.current };
  }

  digest(): string {
    return this.committed || `sha256:${this.hash.copy().digest("hex")}`;
  }

  write(data: Uint8Array): Promise<void> {
    return this.serial(async () => {
      const file = this.open();
      let written = 0;
      while (written < data.byteLength) {
        const { bytesWritten } = await file.write(
          data,
          written,
          data.byteLength - written,
          this.current.offset + written,
        );
        written += bytesWritten;
      }
      this.hash.update(data);
      this.current.offset += data.byteLength;
      this.current.updatedAt = fromStored(nowStored());
    });
  }

  truncate(size: number): Promise<void> {
    return this.serial(async () => {
      const file = this.open();
      if (!Number.isSafeInteger(size) || size < 0 || size > this.current.offset) {
        throw invalidArgument(
          `cannot truncate ingest ${this.ref} of ${this.current.offset} bytes to ${size}`,
        );
      }
      await file.truncate(size);
      const hash = createHash("sha256");
      if (size > 0) {
        for await (const chunk of createReadStream(join(this.path, "data"), { start: 0, end: size - 1 })) {
          hash.update(chunk as Buffer);
        }
      }
      this.hash = hash;
      this.current.offset = size;
      this.current.updatedAt = fromStored(nowStored());
    });
  }

  commit(size: number, expected: string): Promise<string> {
    return this.serial(async () => {
      if (expected !== "") digestHex(expected);
      const file = this.open();
      // Whatever happens next, this writer is done. The ref stays locked until the blob
      // is in place and the ingest gone: a second writer on the same ref must not resume
      // an ingest that this commit is moving away.
      this.file = undefined;
      try {
        let actual: number;
        try {
          await file.sync();
          actual = (await file.stat()).size;
        } finally {
          await file.close();
        }
        if (size > 0 && size !== actual) {
          throw failedPrecondition(`unexpected commit size ${actual}, expected ${size}`);
        }
        const digest = `sha256:${this.hash.digest("hex")}`;
        this.committed = digest;
        if (expected !== "" && expected !== digest) {
          throw failedPrecondition(`unexpected commit digest ${digest}, expected ${expected}`);
        }
        const target = this.store.blobPath(digest);
        if (await exists(target)) {
          await rm(this.path, { recursive: true, force: true });
          throw new BlobExistsError(digest);
        }
        // Blobs are immutable: read-only from the moment they appear under their digest.
        await chmod(join(this.path, "data"), 0o444);
        await rename(join(this.path, "data"), target);
        await syncDir(join(this.store.root, "blobs", "sha256"));
        await rm(this.path, { recursive: true, force: true });
        return digest;
      } finally {
        this.lock.release();
      }
    });
  }

  close(): Promise<void> {
    const done = this.serial(async () => {
      const file = this.file;
      if (!file) return;
      this.file = undefined;
      try {
        await file.sync();
        await writeFile(join(this.path, "updatedat"), toStored(this.current.updatedAt));
      } finally {
        await file.close();
        this.lock.release();
      }
    });
    // From now on the ref is as good as free: a new writer waits for this close.
    this.lock.closing(done.catch(() => undefined));
    return done;
  }

  private open(): FileHandle {
    if (!this.file) throw failedPrecondition(`writer for ref ${this.ref} is closed`);
    return this.file;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function blobInfo(digest: string, st: { size: number; mtime: Date; atime: Date }): ContentInfo {
  return { digest, size: st.size, createdAt: st.mtime, updatedAt: st.atime, labels: {} };
}

/** An ingest's status from its directory, or undefined when there is no usable ingest. */
async function readIngest(path: string): Promise<IngestStatus | undefined> {
  let ref: string;
  let data: { size: number; mtime: Date };
  try {
    ref = await readFile(join(path, "ref"), "utf8");
    const st = await stat(join(path, "data"), { bigint: true });
    data = { size: Number(st.size), mtime: fromStored(formatNanos(st.mtimeNs)) };
  } catch (err) {
    if (hasErrno(err, "ENOENT", "ENOTDIR")) return undefined;
    throw err;
  }
  const startedAt = await readTimestamp(join(path, "startedat"));
  let updatedAt = await readTimestamp(join(path, "updatedat"));
  // updatedat is written on close, not on every write; the data's mtime may be newer.
  if (toStored(data.mtime) > toStored(updatedAt)) updatedAt = data.mtime;
  const total = Number.parseInt((await readOptional(join(path, "total"))) || "0", 10);
  return {
    ref,
    offset: data.size,
    total: Number.isSafeInteger(total) ? total : 0,
    expected: await readOptional(join(path, "expected")),
    startedAt,
    updatedAt,
  };
}

async function readOptional(path: string): Promise<string> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch (err) {
    if (hasErrno(err, "ENOENT")) return "";
    throw err;
  }
}

async function readTimestamp(path: string): Promise<Date> {
  const date = fromStored(await readOptional(path));
  return Number.isNaN(date.getTime()) ? new Date(0) : date;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (hasErrno(err, "ENOENT")) return false;
    throw err;
  }
}

async function syncDir(path: string): Promise<void> {
  const dir = await open(path, "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
