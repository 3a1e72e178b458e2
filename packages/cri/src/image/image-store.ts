// The CRI view of the daemon's image store. An image is identified by its config digest
// (the "image ID"); every image record pointing at it is one of its references: the name
// it was pulled as (a repo tag), `name@<manifest digest>` (a repo digest) and the ID
// itself, as containerd's CRI plugin records them. Records are always read from the
// daemon; what their content says is cached by target digest, since content never changes.

import type { Image as ImageRecord } from "@berth/api/containerd/services/images/v1/images";
import type { Descriptor } from "@berth/api/containerd/types/descriptor";
import {
  BerthError,
  type Connection,
  chainId,
  defaultPlatform,
  errorKind,
  formatReference,
  isIndexType,
  isManifestType,
  isNotFound,
  notFound,
  onlyPlatform,
  parseIndex,
  parseManifest,
  parseReference,
  plain,
  platformChildren,
  readBlob,
} from "@berth/client";

/** containerd's CRI marks the image records it manages with this label. */
export const IMAGE_LABEL_KEY = "io.cri-containerd.image";
export const IMAGE_LABEL_VALUE = "managed";

/** The parts of an OCI image config that CRI reports or containers are built from. */
export interface ImageSpec {
  architecture?: string;
  os?: string;
  config?: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    StopSignal?: string;
    Volumes?: Record<string, unknown>;
    Labels?: Record<string, string>;
    ExposedPorts?: Record<string, unknown>;
  };
  rootfs?: { type?: string; diff_ids?: string[] };
  [key: string]: unknown;
}

/** What an image's content says, independent of the names it has. */
export interface ImageContent {
  /** The config digest: the CRI image ID. */
  id: string;
  /** Chain ID of the layers: the name of the committed snapshot containers start from. */
  chainId: string;
  /** Bytes of manifest, config and layers (containerd's image size). */
  size: number;
  spec: ImageSpec;
}

export interface CriImage extends ImageContent {
  /** Names of the image records, sorted. */
  references: string[];
  /** The record the image is best known by (a tag when there is one), for Containers' `image`. */
  target: Descriptor;
}

const SHA256_ID = /^sha256:[a-f0-9]{64}$/;

export function isImageId(s: string): boolean {
  return SHA256_ID.test(s);
}

/** Repo tags and repo digests among an image's references (IDs are neither). */
export function splitReferences(refs: readonly string[]): { repoTags: string[]; repoDigests: string[] } {
  const repoTags: string[] = [];
  const repoDigests: string[] = [];
  for (const r of refs) {
    if (isImageId(r)) continue;
    let ref: ReturnType<typeof parseReference>;
    try {
      ref = parseReference(r);
    } catch {
      continue;
    }
    if (ref.digest !== undefined) repoDigests.push(formatReference(ref));
    else if (ref.tag !== undefined) repoTags.push(formatReference(ref));
  }
  return { repoTags, repoDigests };
}

/** The user an image runs as: a numeric uid, or a name to look up in its /etc/passwd. */
export function imageUser(spec: ImageSpec): { uid?: number; username: string } {
  const user = (spec.config?.User ?? "").split(":")[0] ?? "";
  if (user === "") return { username: "" };
  if (/^\d+$/.test(user)) return { uid: Number(user), username: "" };
  return { username: user };
}

/** How long a listing is reused: kubelet asks for container statuses every second. */
const LIST_TTL_MS = 1_000;

export class ImageStore {
  readonly #conn: Connection;
  readonly #contentCache = new Map<string, ImageContent>();
  #listed: { at: number; images: Promise<CriImage[]> } | undefined;

  constructor(conn: Connection) {
    this.#conn = conn;
  }

  /** Forgets the last listing (after a pull or removal through berth-cri). */
  invalidate(): void {
    this.#listed = undefined;
  }

  /** Every image in the namespace whose content can be read, one entry per ID. */
  async list(signal?: AbortSignal): Promise<CriImage[]> {
    const cached = this.#listed;
    if (cached !== undefined && Date.now() - cached.at < LIST_TTL_MS) {
      return (await cached.images).map((i) => ({ ...i, references: [...i.references] }));
    }
    // Shared by concurrent callers, so not cancelled by any one caller's signal.
    signal?.throwIfAborted();
    const images = this.#list();
    this.#listed = { at: Date.now(), images };
    images.catch(() => {
      if (this.#listed?.images === images) this.#listed = undefined;
    });
    return (await images).map((i) => ({ ...i, references: [...i.references] }));
  }

  async #list(): Promise<CriImage[]> {
    const res = await this.#conn.images.list({ filters: [] });
    const byId = new Map<string, CriImage>();
    const live = new Set<string>();
    for (const record of res.images) {
      const img = await this.#toCri(record);
      if (img === undefined) continue;
      live.add(record.target?.digest ?? "");
      const existing = byId.get(img.id);
      if (existing === undefined) byId.set(img.id, img);
      else existing.references.push(...img.references);
    }
    for (const key of this.#contentCache.keys()) if (!live.has(key)) this.#contentCache.delete(key);
    const out = [...byId.values()];
    for (const img of out) img.references.sort();
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * The image a CRI image spec names: an ID (`sha256:…`), or a reference normalised the
   * way docker does (`busybox` → `docker.io/library/busybox:latest`). NotFound otherwise.
   */
  async resolve(refOrId: string, signal?: AbortSignal): Promise<CriImage> {
    let id: string | undefined;
    if (isImageId(refOrId)) id = refOrId;
    else {
      let name: string;
      try {
        name = formatReference(parseReference(refOrId));
      } catch {
        throw notFound(`image "${refOrId}" not found`);
      }
      const record = await this.#get(name, signal);
      if (record === undefined) throw notFound(`image "${refOrId}" not found`);
      id = (await this.#toCri(record, signal, true))?.id;
    }
    if (id === undefined) throw notFound(`image "${refOrId}" not found`);
    let found = (await this.list(signal)).find((i) => i.id === id);
    if (found === undefined) {
      // Recorded since the last listing (by another client): look again.
      this.invalidate();
      found = (await this.list(signal)).find((i) => i.id === id);
    }
    if (found === undefined) throw notFound(`image "${refOrId}" not found`);
    return found;
  }

  /** The content of the image record `name` (undefined when there is no such record). */
  async describeRecord(name: string, signal?: AbortSignal): Promise<CriImage | undefined> {
    const record = await this.#get(name, signal);
    return record === undefined ? undefined : this.#toCri(record, signal, true);
  }

  async #get(name: string, signal?: AbortSignal): Promise<ImageRecord | undefined> {
    try {
      return (await this.#conn.images.get({ name }, signal ? { signal } : {})).image;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * The CRI view of a record; undefined when it is not an image CRI can run (content of
   * another platform only, or removed under us). Corrupt content (DataLoss) is skipped
   * in listings and an error for the image asked for by name (`strict`).
   */
  async #toCri(record: ImageRecord, signal?: AbortSignal, strict = false): Promise<CriImage | undefined> {
    const target = record.target;
    if (target === undefined) return undefined;
    let content = this.#contentCache.get(target.digest);
    if (content === undefined) {
      try {
        content = await describeContent(this.#conn, target, signal);
      } catch (err) {
        const kind = errorKind(err);
        if (kind === "NotFound" || kind === "InvalidArgument") return undefined;
        if (kind === "DataLoss" && !strict) return undefined;
        throw err;
      }
      this.#contentCache.set(target.digest, content);
    }
    return { ...content, references: [record.name], target };
  }
}

/** Walks from an image's target to this platform's manifest and reads its config. */
export async function describeContent(
  conn: Connection,
  target: Descriptor,
  signal?: AbortSignal,
): Promise<ImageContent> {
  const matcher = onlyPlatform(defaultPlatform());
  let desc = target;
  let size = 0;
  for (let depth = 0; isIndexType(desc.mediaType); depth++) {
    if (depth > 4) throw notFound(`image index ${target.digest} nests too deeply`);
    size += desc.size;
    const chosen = platformChildren(
      parseIndex(await readBlob(conn, desc.digest, signal), desc.digest),
      matcher,
    )[0];
    if (chosen === undefined) throw notFound(`image ${target.digest} has no manifest for this platform`);
    desc = plain(chosen);
  }
  if (!isManifestType(desc.mediaType)) throw notFound(`image ${target.digest} is not an image manifest`);
  size += desc.size;
  const manifest = parseManifest(await readBlob(conn, desc.digest, signal), desc.digest);
  const configData = await readBlob(conn, manifest.config.digest, signal);
  size += manifest.config.size;
  for (const layer of manifest.layers) size += layer.size;
  let spec: ImageSpec;
  try {
    spec = JSON.parse(configData.toString("utf8")) as ImageSpec;
  } catch {
    throw new BerthError(
      "DataLoss",
      `image config ${manifest.config.digest} is not JSON: the stored image is corrupt; remove it (crictl rmi) and pull it again`,
    );
  }
  const diffIds = spec.rootfs?.diff_ids ?? [];
  return {
    id: manifest.config.digest,
    chainId: diffIds.length > 0 ? chainId(diffIds) : "",
    size,
    spec,
  };
}
