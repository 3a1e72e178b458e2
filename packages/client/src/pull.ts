// Pull: resolve a reference on its registry, fetch the index, the manifest for this
// platform, its config and layers into the daemon's content store under a lease, unpack
// its layers into snapshots, and record the image. Blobs, labels, snapshots and the
// image record are exactly what containerd's own client leaves behind, so GC and `ctr`
// see the same things whichever client pulled.

import type { Image } from "@berth/api/containerd/services/images/v1/images";
import type { Descriptor } from "@berth/api/containerd/types/descriptor";
import type { Connection } from "./connection.js";
import {
  type BlobSource,
  bytesSource,
  contentInfo,
  readBlob,
  updateContentLabels,
  writeBlob,
} from "./content.js";
import { BerthError, invalidArgument, isAlreadyExists, isNotFound, notFound } from "./errdefs.js";
import { DISTRIBUTION_SOURCE_PREFIX, GC_EXPIRE, appendDistributionSource, labelFits } from "./labels.js";
import { Limiter } from "./limiter.js";
import { childGcLabels, parseIndex, parseManifest, plain, platformChildren } from "./manifests.js";
import { MediaType, isIndexType, isManifestType, refKey } from "./media-types.js";
import {
  type Platform,
  type PlatformMatcher,
  defaultPlatform,
  formatPlatform,
  onlyPlatform,
  parsePlatform,
} from "./platforms.js";
import type { FetchFunction } from "./remotes/auth.js";
import type { HostsConfig } from "./remotes/hosts.js";
import { type Reference, formatReference, parseReference, referenceHostname } from "./remotes/reference.js";
import { type Fetcher, MAX_MANIFEST_BYTES, Resolver } from "./remotes/resolver.js";
import {
  DEFAULT_SNAPSHOTTER,
  type UnpackProgress,
  diffIdsOf,
  parseImageConfig,
  uniquePart,
  unpackLayers,
} from "./unpack.js";

export type BlobStatus =
  | "resolving"
  | "resolved"
  | "waiting"
  | "downloading"
  | "exists"
  | "done"
  // push, import and export report their blobs with the same events
  | "uploading"
  | "importing"
  | "exporting";

export interface BlobProgress {
  type: "blob";
  /** The ingest ref ("layer-sha256:…"); the image name while it is being resolved. */
  ref: string;
  digest: string;
  mediaType: string;
  status: BlobStatus;
  /** Bytes in the content store so far. */
  offset: number;
  total: number;
}

export type PullProgress = BlobProgress | UnpackProgress;

/** The progress event of a blob (pull, push, import, export), its row named as containerd names its ingest. */
export function blobProgress(desc: Descriptor, status: BlobStatus, offset: number): BlobProgress {
  return {
    type: "blob",
    ref: refKey(desc),
    digest: desc.digest,
    mediaType: desc.mediaType,
    status,
    offset,
    total: desc.size,
  };
}

export interface PullOptions {
  /** The platform whose manifest is pulled out of an index (default: this machine's, e.g. linux/amd64). */
  platform?: Platform | string;
  snapshotter?: string;
  /** Unpack the layers into snapshots (default true). */
  unpack?: boolean;
  hosts?: HostsConfig;
  /** containerd's hosts directory (ctr's --hosts-dir); see ResolverOptions.hostsDir. */
  hostsDir?: string;
  /** `--plain-http`. */
  plainHttp?: boolean;
  /** A resolver to reuse (keeps registry tokens across pulls); made from hosts/plainHttp/fetch otherwise. */
  resolver?: Resolver;
  /** For tests and instrumentation: the HTTP client used when no resolver is given. */
  fetch?: FetchFunction;
  /** Labels of the image record. */
  labels?: Record<string, string>;
  /** Blobs downloaded at once (default 3). */
  concurrency?: number;
  onProgress?: (event: PullProgress) => void;
  signal?: AbortSignal;
}

/** How long the pull's lease protects what it wrote when it is not deleted (a crash, an interrupted download). */
const LEASE_EXPIRY_MS = 60 * 60 * 1000;

/** Configs are JSON documents too, but may hold long histories. */
const MAX_CONFIG_BYTES = 64 << 20;

/** Creates the lease a pull works under; GC may drop it an hour after a crash. */
export async function createLease(conn: Connection, signal: AbortSignal | undefined): Promise<string> {
  const expires = new Date(Date.now() + LEASE_EXPIRY_MS).toISOString().replace(/\.\d+Z$/, "Z");
  const res = await conn.leases.create(
    { id: uniquePart(), labels: { [GC_EXPIRE]: expires } },
    signal !== undefined ? { signal } : {},
  );
  if (res.lease === undefined)
    throw new BerthError("Unknown", "the daemon created a lease but did not return it");
  return res.lease.id;
}

/** Records the image (replacing target and labels of an existing record of the same name). */
export async function createOrUpdateImage(
  conn: Connection,
  name: string,
  target: Descriptor,
  labels: Record<string, string> = {},
): Promise<Image> {
  const image = { name, target, labels };
  for (;;) {
    try {
      const res = await conn.images.create({ image });
      if (res.image !== undefined) return res.image;
      break;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    try {
      const res = await conn.images.update({ image });
      if (res.image !== undefined) return res.image;
      break;
    } catch (err) {
      // Removed between the two calls: create it again.
      if (!isNotFound(err)) throw err;
    }
  }
  return { name, target, labels, createdAt: undefined, updatedAt: undefined };
}

/** The resolver a pull or push uses: the one given, else one made from its hosts settings. */
export function resolverFor(options: {
  resolver?: Resolver;
  hosts?: HostsConfig;
  hostsDir?: string;
  plainHttp?: boolean;
  fetch?: FetchFunction;
}): Resolver {
  return (
    options.resolver ??
    new Resolver({
      ...(options.hosts !== undefined ? { hosts: options.hosts } : {}),
      ...(options.hostsDir !== undefined ? { hostsDir: options.hostsDir } : {}),
      ...(options.plainHttp !== undefined ? { plainHttp: options.plainHttp } : {}),
      ...(options.fetch !== undefined ? { fetch: options.fetch } : {}),
    })
  );
}

/** Pulls `ref` into the daemon behind `conn`, and returns the image record. */
export async function pull(conn: Connection, ref: string, options: PullOptions = {}): Promise<Image> {
  const reference = parseReference(ref);
  const name = formatReference(reference);
  const platform =
    typeof options.platform === "string"
      ? parsePlatform(options.platform)
      : (options.platform ?? defaultPlatform());
  const resolver = resolverFor(options);
  const emit = options.onProgress ?? (() => undefined);
  const { signal } = options;

  emit({ type: "blob", ref: name, digest: "", mediaType: "", status: "resolving", offset: 0, total: 0 });
  const fetcher = await resolver.fetcher(reference);
  const top = await fetcher.resolve(signal);
  emit({
    type: "blob",
    ref: name,
    digest: top.digest,
    mediaType: top.mediaType,
    status: "resolved",
    offset: 0,
    total: 0,
  });
  if (top.mediaType === MediaType.dockerSchema1Manifest) {
    throw invalidArgument(
      `${name} is a Docker schema 1 image, which cannot be pulled: push it again as schema 2 or OCI`,
    );
  }

  const lease = await createLease(conn, signal);
  const job = new PullJob(conn.withLease(lease), lease, fetcher, reference, platform, options, emit);
  let keepLease = false;
  try {
    return await job.run(name, top);
  } catch (err) {
    // The daemon drops unfinished downloads with the lease that holds them. Keeping it
    // (it expires on its own) lets the next pull resume them instead of starting over.
    keepLease = job.interruptedDownloads > 0;
    throw err;
  } finally {
    // Not under the caller's signal: the lease goes even when the pull was cancelled.
    if (!keepLease) await conn.leases.delete({ id: lease, sync: false }).catch(() => undefined);
  }
}

class PullJob {
  readonly #conn: Connection;
  readonly #lease: string;
  readonly #fetcher: Fetcher;
  readonly #reference: Reference;
  readonly #platform: Platform;
  readonly #matcher: PlatformMatcher;
  readonly #options: PullOptions;
  readonly #emit: (event: PullProgress) => void;
  readonly #limiter: Limiter;
  readonly #abort = new AbortController();
  readonly #signal: AbortSignal;
  /** Downloads that stored some bytes but did not commit. */
  interruptedDownloads = 0;

  constructor(
    conn: Connection,
    lease: string,
    fetcher: Fetcher,
    reference: Reference,
    platform: Platform,
    options: PullOptions,
    emit: (event: PullProgress) => void,
  ) {
    this.#conn = conn;
    this.#lease = lease;
    this.#fetcher = fetcher;
    this.#reference = reference;
    this.#platform = platform;
    this.#matcher = onlyPlatform(platform);
    this.#options = options;
    this.#emit = emit;
    this.#limiter = new Limiter(Math.max(1, options.concurrency ?? 3));
    this.#signal =
      options.signal !== undefined
        ? AbortSignal.any([options.signal, this.#abort.signal])
        : this.#abort.signal;
  }

  async run(name: string, top: Descriptor): Promise<Image> {
    const manifestDesc = await this.#selectManifest(top, 0);
    const manifestData = await this.#fetchDocument(manifestDesc, MAX_MANIFEST_BYTES);
    const manifest = parseManifest(manifestData, manifestDesc.digest);
    await this.#label(manifestDesc, childGcLabels([manifest.config, ...manifest.layers]));

    const { config, layers } = manifest;
    this.#blobEvent(config, "waiting", 0);
    for (const layer of layers) this.#blobEvent(layer, "waiting", 0);

    let firstError: unknown;
    const failFast = <T>(p: Promise<T>): Promise<T> =>
      p.catch((err: unknown) => {
        firstError ??= err;
        this.#abort.abort(err);
        throw err;
      });
    const configData = failFast(
      this.#limiter.run(async () => {
        const data = await this.#fetchDocument(config, MAX_CONFIG_BYTES);
        await this.#label(config, {});
        return data;
      }),
    );
    const layerDone = layers.map((layer) => failFast(this.#limiter.run(() => this.#fetchLayer(layer))));
    const content = Promise.all([configData, ...layerDone]);
    const unpacking =
      this.#options.unpack === false
        ? undefined
        : failFast(this.#unpack(config, layers, configData, layerDone));
    // Its failure is handled below; until then it must not count as unhandled.
    unpacking?.catch(() => undefined);
    try {
      // The record comes last, as containerd's client makes it: an image that is listed is
      // also unpacked, so a CRI client that finds it can create a container from it at once.
      await content;
      await unpacking;
      return await createOrUpdateImage(this.#conn, name, plain(top), this.#options.labels ?? {});
    } catch (err) {
      this.#abort.abort(err);
      await Promise.allSettled([content, unpacking]);
      throw firstError ?? err;
    }
  }

  async #unpack(
    config: Descriptor,
    layers: Descriptor[],
    configData: Promise<Buffer>,
    layerDone: Array<Promise<void>>,
  ): Promise<void> {
    const diffIds = diffIdsOf(
      parseImageConfig(await configData, config.digest),
      config.digest,
      layers.length,
    );
    await unpackLayers(this.#conn, config, layers, diffIds, {
      snapshotter: this.#options.snapshotter ?? DEFAULT_SNAPSHOTTER,
      signal: this.#signal,
      lease: this.#lease,
      onProgress: this.#emit,
      layerReady: (i) => layerDone[i] ?? Promise.resolve(),
    });
  }

  /** Walks down from the resolved descriptor through indexes to the manifest for the platform. */
  async #selectManifest(desc: Descriptor, depth: number): Promise<Descriptor> {
    if (isManifestType(desc.mediaType)) return desc;
    if (!isIndexType(desc.mediaType)) {
      throw invalidArgument(
        `${formatReference(this.#reference)} points to ${desc.mediaType || "an unknown media type"}, not an image index or manifest`,
      );
    }
    if (depth > 4) throw invalidArgument(`${formatReference(this.#reference)} nests indexes too deeply`);
    const data = await this.#fetchDocument(desc, MAX_MANIFEST_BYTES);
    const children = parseIndex(data, desc.digest);
    // Every child is referenced, also those of other platforms, like containerd does.
    await this.#label(desc, childGcLabels(children));
    const chosen = platformChildren(children, this.#matcher)[0];
    if (chosen === undefined) {
      const available = [
        ...new Set(children.flatMap((c) => (c.platform !== undefined ? [formatPlatform(c.platform)] : []))),
      ];
      throw notFound(
        `${formatReference(this.#reference)} has no manifest for ${formatPlatform(this.#platform)} (it has ${available.join(", ") || "none"}): choose one with --platform`,
      );
    }
    return this.#selectManifest(plain(chosen), depth + 1);
  }

  #blobEvent(desc: Descriptor, status: BlobStatus, offset: number): void {
    this.#emit(blobProgress(desc, status, offset));
  }

  /**
   * Puts a blob in the pull's lease before looking for it in the store, as containerd's
   * writer does for a blob it finds: one found there (another image's) must not be
   * garbage-collected by a removal of that image while this pull still needs it.
   */
  async #hold(desc: Descriptor): Promise<void> {
    await this.#conn.leases.addResource(
      { id: this.#lease, resource: { id: desc.digest, type: "content" } },
      { signal: this.#signal },
    );
  }

  /** An index, manifest or config: in memory afterwards, from the store when it is there already. */
  async #fetchDocument(desc: Descriptor, maxBytes: number): Promise<Buffer> {
    const signal = this.#signal;
    await this.#hold(desc);
    if ((await contentInfo(this.#conn, desc.digest, signal)) !== undefined) {
      this.#blobEvent(desc, "exists", desc.size);
      return readBlob(this.#conn, desc.digest, signal);
    }
    let fetched: Buffer | undefined;
    const source: BlobSource = {
      open: async (offset) => {
        fetched ??= await this.#fetcher.fetchBytes(desc, { signal, maxBytes });
        return bytesSource(fetched).open(offset);
      },
    };
    const result = await this.#write(desc, source);
    this.#blobEvent(desc, result === "exists" ? "exists" : "done", desc.size);
    return fetched ?? readBlob(this.#conn, desc.digest, signal);
  }

  async #fetchLayer(desc: Descriptor): Promise<void> {
    const signal = this.#signal;
    await this.#hold(desc);
    if ((await contentInfo(this.#conn, desc.digest, signal)) !== undefined) {
      this.#blobEvent(desc, "exists", desc.size);
    } else {
      const source: BlobSource = {
        open: (offset) => this.#fetcher.open(desc, { offset, signal }),
      };
      const result = await this.#write(desc, source);
      this.#blobEvent(desc, result === "exists" ? "exists" : "done", desc.size);
    }
    await this.#label(desc, {});
  }

  async #write(desc: Descriptor, source: BlobSource) {
    let stored = 0;
    try {
      return await writeBlob(this.#conn, desc, source, {
        ref: refKey(desc),
        signal: this.#signal,
        onWaiting: () => this.#blobEvent(desc, "waiting", 0),
        onProgress: (offset) => {
          stored = offset;
          this.#blobEvent(desc, "downloading", offset);
        },
      });
    } catch (err) {
      if (stored > 0) this.interruptedDownloads++;
      throw err;
    }
  }

  /** Sets gc reference labels and adds this repository to the blob's distribution source label. */
  async #label(desc: Descriptor, labels: Record<string, string>): Promise<void> {
    const key = `${DISTRIBUTION_SOURCE_PREFIX}${referenceHostname(this.#reference)}`;
    const info = await contentInfo(this.#conn, desc.digest, this.#signal);
    const value = appendDistributionSource(info?.labels[key], this.#reference.path);
    const all = { ...labels };
    if (labelFits(key, value)) all[key] = value;
    await updateContentLabels(this.#conn, desc.digest, all, this.#signal);
  }
}
