// The layout of image archives, as `ctr images export|import` and `docker save|load`
// write and read them: an OCI image layout (oci-layout, index.json, blobs/<alg>/<hex>)
// with a Docker manifest.json beside it, or a Docker archive with manifest.json only.
// Pure logic here; reading and writing the tar streams lives in import.ts / export.ts.

import type { Descriptor } from "@berth/api/containerd/types/descriptor";
import { invalidArgument } from "../errdefs.js";
import { sha256Digest } from "../identity.js";
import { type PlatformDescriptor, parseIndex } from "../manifests.js";
import { ANNOTATION_REF_NAME, MediaType } from "../media-types.js";
import { DEFAULT_DOMAIN, formatReference, parseReference } from "../remotes/reference.js";

/** containerd's annotation with an image's full name in an archive's index.json. */
export const ANNOTATION_IMAGE_NAME = "io.containerd.image.name";

export const OCI_LAYOUT_FILE = "oci-layout";
export const INDEX_FILE = "index.json";
export const DOCKER_MANIFEST_FILE = "manifest.json";

/** A regular file of an archive, as the first reading pass saw it. */
export interface ArchiveFile {
  name: string;
  size: number;
  digest: string;
  /** Starts with the gzip magic bytes. */
  gzip: boolean;
  /** The bytes of small JSON files (documents); undefined for the rest. */
  data?: Buffer;
}

/** `blobs/sha256/<hex>`: where a blob lives in an OCI layout. */
export function blobPath(digest: string): string {
  const [alg, hex] = digest.split(":");
  return `blobs/${alg}/${hex}`;
}

/** A tar member's name without a leading `./` or `/`. */
export function cleanEntryName(name: string): string {
  return name.replace(/^(\.\/|\/)+/, "");
}

export interface ArchiveLayout {
  format: "oci" | "docker";
  /** index.json's descriptors (the images of the archive), with their annotations. */
  manifests: PlatformDescriptor[];
  /** The raw index.json (for --index-name); a Docker archive gets one made up. */
  index: Buffer;
  /** Documents that exist in no file: the manifests made up for a Docker archive. */
  generated: Map<string, Buffer>;
  /** The file holding each digest. */
  fileOf: Map<string, ArchiveFile>;
}

/**
 * What an archive holds, from its files: index.json when there is one (OCI, also
 * `docker save` of Docker 25+), else manifest.json (older `docker save`), whose entries
 * become Docker schema 2 manifests. Errors say which file is missing.
 */
export function readLayout(files: ReadonlyMap<string, ArchiveFile>): ArchiveLayout {
  const fileOf = new Map<string, ArchiveFile>();
  for (const f of files.values()) if (!fileOf.has(f.digest)) fileOf.set(f.digest, f);
  // Blobs are named by their digest; a misnamed one is not what its name says.
  for (const f of files.values()) {
    const m = /^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/.exec(f.name);
    if (m !== null && `${m[1]}:${m[2]}` !== f.digest) {
      throw invalidArgument(`archive member ${f.name} has digest ${f.digest}: the archive is corrupt`);
    }
  }
  const index = files.get(INDEX_FILE);
  if (index !== undefined) {
    if (index.data === undefined) throw invalidArgument(`archive's ${INDEX_FILE} is too large or not JSON`);
    return {
      format: "oci",
      manifests: parseIndex(index.data, INDEX_FILE),
      index: index.data,
      generated: new Map(),
      fileOf,
    };
  }
  const docker = files.get(DOCKER_MANIFEST_FILE);
  if (docker === undefined) {
    throw invalidArgument(
      `the archive has neither ${INDEX_FILE} nor ${DOCKER_MANIFEST_FILE}: it is not an image archive (make one with berthctl images export, ctr images export or docker save)`,
    );
  }
  return dockerLayout(docker, files, fileOf);
}

interface DockerEntry {
  Config?: unknown;
  RepoTags?: unknown;
  Layers?: unknown;
}

function dockerLayout(
  file: ArchiveFile,
  files: ReadonlyMap<string, ArchiveFile>,
  fileOf: Map<string, ArchiveFile>,
): ArchiveLayout {
  let entries: unknown;
  try {
    entries = JSON.parse((file.data ?? Buffer.alloc(0)).toString("utf8"));
  } catch {
    throw invalidArgument(`archive's ${DOCKER_MANIFEST_FILE} is not JSON`);
  }
  if (!Array.isArray(entries)) throw invalidArgument(`archive's ${DOCKER_MANIFEST_FILE} is not a list`);
  const member = (path: unknown, what: string): ArchiveFile => {
    if (typeof path !== "string") throw invalidArgument(`${DOCKER_MANIFEST_FILE}: ${what} is not a path`);
    const f = files.get(cleanEntryName(path));
    if (f === undefined) {
      throw invalidArgument(
        `${DOCKER_MANIFEST_FILE} names ${what} ${path}, which the archive does not contain: the archive is incomplete`,
      );
    }
    return f;
  };
  const manifests: PlatformDescriptor[] = [];
  const generated = new Map<string, Buffer>();
  entries.forEach((raw: DockerEntry, i) => {
    const config = member(raw.Config, `the config of image ${i}`);
    if (!Array.isArray(raw.Layers))
      throw invalidArgument(`${DOCKER_MANIFEST_FILE}: image ${i} has no Layers`);
    const layers = raw.Layers.map((l, j) => member(l, `layer ${j} of image ${i}`));
    const doc = {
      schemaVersion: 2,
      mediaType: MediaType.dockerManifest,
      config: { mediaType: MediaType.dockerConfig, digest: config.digest, size: config.size },
      layers: layers.map((l) => ({
        mediaType: l.gzip ? MediaType.dockerLayerGzip : MediaType.dockerLayer,
        digest: l.digest,
        size: l.size,
      })),
    };
    const data = Buffer.from(JSON.stringify(doc));
    const digest = sha256Digest(data);
    generated.set(digest, data);
    const base = { mediaType: MediaType.dockerManifest, digest, size: data.length };
    const tags = Array.isArray(raw.RepoTags) ? raw.RepoTags.filter((t) => typeof t === "string") : [];
    if (tags.length === 0) manifests.push({ ...base, annotations: {} });
    for (const tag of tags) {
      const name = normalizeName(tag);
      const ref = parseReference(name);
      manifests.push({
        ...base,
        annotations: { [ANNOTATION_IMAGE_NAME]: name, [ANNOTATION_REF_NAME]: ref.tag ?? name },
      });
    }
  });
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
  return { format: "docker", manifests, index, generated, fileOf };
}

function normalizeName(name: string): string {
  try {
    return formatReference(parseReference(name));
  } catch {
    throw invalidArgument(`${DOCKER_MANIFEST_FILE} has the invalid image name "${name}"`);
  }
}

export interface ImportNaming {
  /**
   * `--base-name`: names in the archive must start with it (others are skipped), and
   * bare tags are put after it. Without it, bare tags go after "import-<date>".
   */
  baseName?: string;
  /** `--digests`: also name every image `<base>@<digest>`. */
  digests?: boolean;
  /** `--skip-digest-for-named`: no digest name for images that have a name. */
  skipDigestForNamed?: boolean;
  /** The day an unnamed import is named after (default today). */
  now?: Date;
}

export interface NamedImage {
  name: string;
  target: Descriptor;
}

/** The image records an import makes, named as `ctr images import` names them. */
export function importedImages(manifests: readonly PlatformDescriptor[], naming: ImportNaming): NamedImage[] {
  const filter = naming.baseName !== undefined && naming.baseName !== "";
  const base = filter
    ? (naming.baseName as string)
    : `import-${(naming.now ?? new Date()).toISOString().slice(0, 10)}`;
  const out: NamedImage[] = [];
  const seen = new Set<string>();
  const push = (name: string, target: PlatformDescriptor) => {
    if (seen.has(name)) return;
    seen.add(name);
    const { platform: _, ...plainTarget } = target;
    out.push({ name, target: plainTarget });
  };
  for (const m of manifests) {
    let name = m.annotations[ANNOTATION_IMAGE_NAME] ?? "";
    if (name === "") {
      const ref = m.annotations[ANNOTATION_REF_NAME] ?? "";
      if (ref !== "") name = translateRef(ref, base, filter);
    } else if (filter && !hasImagePrefix(name, base)) {
      name = "";
    }
    if (name !== "") push(name, m);
    if (naming.digests === true && !(naming.skipDigestForNamed === true && name !== "")) {
      push(`${base}@${m.digest}`, m);
    }
  }
  return out;
}

/** A ref.name annotation made an image name: a bare tag goes after the base name. */
function translateRef(ref: string, base: string, filter: boolean): string {
  if (/[/:@]/.test(ref)) return filter && !hasImagePrefix(ref, base) ? "" : ref;
  return `${base}:${ref}`;
}

/** Whether `name` is `prefix` itself or inside it (not merely sharing leading characters). */
function hasImagePrefix(name: string, prefix: string): boolean {
  if (!name.startsWith(prefix)) return false;
  const next = name[prefix.length];
  return next === undefined || next === "/" || next === ":" || next === "@";
}

/** An exported image: its name, the target, and for manifest.json the manifest chosen for the platform. */
export interface ExportedImage {
  name: string;
  target: Descriptor;
  manifest?: { config: Descriptor; layers: readonly Descriptor[] };
}

/** index.json of an export: one entry per image, named the way ctr names them. */
export function exportIndex(exported: readonly ExportedImage[]): Buffer {
  const manifests = exported.map((e) => ({
    mediaType: e.target.mediaType,
    digest: e.target.digest,
    size: e.target.size,
    annotations: {
      ...e.target.annotations,
      [ANNOTATION_IMAGE_NAME]: e.name,
      [ANNOTATION_REF_NAME]: ociRefName(e.name),
    },
  }));
  return Buffer.from(`${JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests })}\n`);
}

/** The OCI ref.name of an image name: its tag (or digest), else the name itself. */
function ociRefName(name: string): string {
  try {
    const ref = parseReference(name);
    return ref.digest ?? ref.tag ?? name;
  } catch {
    return name;
  }
}

/**
 * Docker's manifest.json for the images that have one manifest (images exported for
 * every platform have none): images sharing a config share an entry.
 */
export function dockerManifestJson(exported: readonly ExportedImage[]): Buffer | undefined {
  const entries = new Map<string, { Config: string; RepoTags: string[]; Layers: string[] }>();
  for (const e of exported) {
    if (e.manifest === undefined) continue;
    const key = e.manifest.config.digest;
    let entry = entries.get(key);
    if (entry === undefined) {
      entry = {
        Config: blobPath(key),
        RepoTags: [],
        Layers: e.manifest.layers.map((l) => blobPath(l.digest)),
      };
      entries.set(key, entry);
    }
    const tag = familiarName(e.name);
    if (tag !== undefined && !entry.RepoTags.includes(tag)) entry.RepoTags.push(tag);
  }
  if (entries.size === 0) return undefined;
  return Buffer.from(`${JSON.stringify([...entries.values()])}\n`);
}

/** Docker's short form of a tagged name ("docker.io/library/busybox:1" → "busybox:1"); undefined without a tag. */
export function familiarName(name: string): string | undefined {
  let ref: ReturnType<typeof parseReference>;
  try {
    ref = parseReference(name);
  } catch {
    return undefined;
  }
  if (ref.digest !== undefined || ref.tag === undefined) return undefined;
  let path = ref.path;
  if (ref.domain === DEFAULT_DOMAIN) {
    if (path.startsWith("library/") && path.split("/").length === 2) path = path.slice("library/".length);
    return `${path}:${ref.tag}`;
  }
  return `${ref.domain}/${path}:${ref.tag}`;
}

export const OCI_LAYOUT = Buffer.from(`${JSON.stringify({ imageLayoutVersion: "1.0.0" })}\n`);
