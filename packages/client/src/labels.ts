// Labels containerd's garbage collector and tools read. Berth writes the same ones so
// that either daemon, and `ctr`, see the same references.

/** Content label: the blob of a manifest's config, referenced from the manifest. */
export const GC_REF_CONTENT_CONFIG = "containerd.io/gc.ref.content.config";
/** Content label prefix: a manifest's layers (`…l.0`, `…l.1`…). */
export const GC_REF_CONTENT_LAYER = "containerd.io/gc.ref.content.l.";
/** Content label prefix: an index's manifests (`…m.0`, `…m.1`…). */
export const GC_REF_CONTENT_MANIFEST = "containerd.io/gc.ref.content.m.";
/** Content label prefix: any other child (`…content.0`…). */
export const GC_REF_CONTENT = "containerd.io/gc.ref.content.";
/** Content label on an image config: `…snapshot.<snapshotter>` = top chain ID of its unpacked layers. */
export const GC_REF_SNAPSHOT_PREFIX = "containerd.io/gc.ref.snapshot.";
/** Lease label: RFC 3339 time after which GC may delete the lease. */
export const GC_EXPIRE = "containerd.io/gc.expire";
/** Content label prefix: `…source.<registry hostname>` = comma-separated repositories. */
export const DISTRIBUTION_SOURCE_PREFIX = "containerd.io/distribution.source.";
/** Content label on a layer blob: the digest of its uncompressed tar (its diff ID). */
export const UNCOMPRESSED = "containerd.io/uncompressed";
/** Snapshot label naming the chain ID an extraction snapshot is being prepared for. */
export const SNAPSHOT_REF = "containerd.io/snapshot.ref";

/** containerd rejects a label whose key and value together exceed this many bytes. */
export const MAX_LABEL_BYTES = 4096;

export function labelFits(key: string, value: string): boolean {
  return Buffer.byteLength(key) + Buffer.byteLength(value) <= MAX_LABEL_BYTES;
}

/** Adds `repo` to a distribution source label value: sorted, without duplicates, like containerd. */
export function appendDistributionSource(current: string | undefined, repo: string): string {
  const repos = new Set((current ?? "").split(",").filter((r) => r !== ""));
  repos.add(repo);
  return [...repos].sort().join(",");
}
