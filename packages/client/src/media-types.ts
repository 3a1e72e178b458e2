// OCI and Docker media types, and how containerd classifies them.

import type { Descriptor } from "@berth/api/containerd/types/descriptor";

export const MediaType = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerSchema1Manifest: "application/vnd.docker.distribution.manifest.v1+prettyjws",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  dockerLayerForeign: "application/vnd.docker.image.rootfs.foreign.diff.tar",
  dockerLayerForeignGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  dockerLayerZstd: "application/vnd.docker.image.rootfs.diff.tar.zstd",
} as const;

/** What a registry is asked for when resolving a reference, most preferred first. */
export const MANIFEST_ACCEPT = [
  MediaType.ociIndex,
  MediaType.ociManifest,
  MediaType.dockerManifestList,
  MediaType.dockerManifest,
  "*/*",
].join(", ");

/** The OCI annotation naming a descriptor inside an index (used in ingest ref names). */
export const ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name";

const dockerLayerTypes = new Set<string>([
  MediaType.dockerLayer,
  MediaType.dockerLayerGzip,
  MediaType.dockerLayerForeign,
  MediaType.dockerLayerForeignGzip,
  MediaType.dockerLayerZstd,
]);

export const isIndexType = (mt: string): boolean =>
  mt === MediaType.ociIndex || mt === MediaType.dockerManifestList;
export const isManifestType = (mt: string): boolean =>
  mt === MediaType.ociManifest || mt === MediaType.dockerManifest;
export const isConfigType = (mt: string): boolean =>
  mt === MediaType.ociConfig || mt === MediaType.dockerConfig;

export function isLayerType(mt: string): boolean {
  if (mt.startsWith("application/vnd.oci.image.layer.")) return true;
  // Docker types may carry "+suffix" modifiers (e.g. "+encrypted") after their base type.
  return dockerLayerTypes.has(mt.split("+")[0] ?? mt);
}

/**
 * The ingest ref under which a descriptor is written to the content store, named the way
 * containerd's fetcher names it (`layer-sha256:…`), so that concurrent pulls by either
 * client share (and wait for) the same ingest.
 */
export function refKey(
  desc: Pick<Descriptor, "mediaType" | "digest"> & { annotations?: Record<string, string> },
): string {
  const name = desc.annotations?.[ANNOTATION_REF_NAME];
  const key = name !== undefined ? `${name}@${desc.digest}` : desc.digest;
  const mt = desc.mediaType;
  if (isManifestType(mt)) return `manifest-${key}`;
  if (isIndexType(mt)) return `index-${key}`;
  if (isLayerType(mt)) return `layer-${key}`;
  if (isConfigType(mt)) return `config-${key}`;
  return `unknown-${key}`;
}
