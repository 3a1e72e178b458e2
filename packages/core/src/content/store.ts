// The content store: immutable blobs addressed by digest, written through resumable
// ingests named by a client-chosen ref. This is the local, un-namespaced store; the
// metadata layer adds namespaces, labels and garbage collection on top.
import { BerthError } from "@berth/client/errdefs";

/**
 * AlreadyExists from a commit whose bytes are a blob the store already has. It names the
 * digest, so that a namespace committing content another namespace wrote (with no
 * expected digest, as `ctr images import` does) can still record the blob it now has.
 */
export class BlobExistsError extends BerthError {
  constructor(readonly digest: string) {
    super("AlreadyExists", `content ${digest}: already exists`);
  }
}

export interface ContentInfo {
  digest: string;
  size: number;
  createdAt: Date;
  updatedAt: Date;
  labels: Record<string, string>;
}

export interface IngestStatus {
  ref: string;
  offset: number;
  total: number;
  expected: string;
  startedAt: Date;
  updatedAt: Date;
}

export interface WriterOptions {
  /** Total size, when known (0 = unknown). */
  total?: number;
  /** Expected digest, when known ("" = unknown). */
  expected?: string;
}

/** An open ingest. Only one writer may hold a ref at a time (others get Unavailable). */
export interface ContentWriter {
  readonly ref: string;
  status(): Promise<IngestStatus>;
  /** Digest of the bytes written so far (of the committed blob once committed). */
  digest(): string;
  /** Appends at the current offset. */
  write(data: Uint8Array): Promise<void>;
  /** Truncates the ingest to `size` bytes (containerd only allows 0 from the API). */
  truncate(size: number): Promise<void>;
  /**
   * Verifies size (when > 0) and digest (when non-empty) and moves the blob into place.
   * A mismatch throws FailedPrecondition and leaves nothing committed; a blob that
   * already exists throws BlobExistsError, an AlreadyExists (the ingest is removed either way on success).
   * Returns the committed blob's digest.
   */
  commit(size: number, expected: string): Promise<string>;
  /** Releases the ref lock without removing the ingest, so it can be resumed. */
  close(): Promise<void>;
}

export interface ContentReader {
  readonly size: number;
  /** Reads up to `length` bytes at `offset`; fewer only at the end of the blob. */
  readAt(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface ContentStore {
  /** NotFound when absent. Labels are always empty here (the metadata layer keeps them). */
  info(digest: string): Promise<ContentInfo>;
  /** Every committed blob. */
  list(): Promise<ContentInfo[]>;
  /** NotFound when absent. */
  delete(digest: string): Promise<void>;
  /** NotFound when absent. */
  reader(digest: string): Promise<ContentReader>;
  /** Opens (or resumes) the ingest `ref`. */
  writer(ref: string, options?: WriterOptions): Promise<ContentWriter>;
  /** NotFound when no ingest has this ref. */
  status(ref: string): Promise<IngestStatus>;
  listStatuses(): Promise<IngestStatus[]>;
  /** Removes an ingest; NotFound when absent. */
  abort(ref: string): Promise<void>;
  /** Path of a committed blob on disk (for zero-copy readers inside berthd). */
  blobPath(digest: string): string;
}
