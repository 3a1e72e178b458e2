// Image documents: indexes and manifests parsed into descriptors, the gc reference labels
// a parent carries for its children, and the choice of a platform's manifest.

import type { Descriptor } from "@berth/api/containerd/types/descriptor";
import { invalidArgument } from "./errdefs.js";
import { isSha256Digest } from "./identity.js";
import {
  GC_REF_CONTENT,
  GC_REF_CONTENT_CONFIG,
  GC_REF_CONTENT_LAYER,
  GC_REF_CONTENT_MANIFEST,
} from "./labels.js";
import { isConfigType, isLayerType, isManifestType } from "./media-types.js";
import type { Platform, PlatformMatcher } from "./platforms.js";

/** A descriptor as found in an index: it may name its platform. */
export type PlatformDescriptor = Descriptor & { platform?: Platform };

/** The descriptor fields stored in the image record and passed to the daemon. */
interface JsonDescriptor {
  mediaType?: unknown;
  digest?: unknown;
  size?: unknown;
  annotations?: unknown;
  platform?: unknown;
}

function toDescriptor(d: JsonDescriptor, where: string): PlatformDescriptor {
  if (typeof d.digest !== "string" || !isSha256Digest(d.digest)) {
    throw invalidArgument(`${where}: missing or unsupported digest ${JSON.stringify(d.digest)}`);
  }
  if (typeof d.size !== "number" || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw invalidArgument(`${where}: invalid size ${JSON.stringify(d.size)} for ${d.digest}`);
  }
  const annotations: Record<string, string> = {};
  if (typeof d.annotations === "object" && d.annotations !== null) {
    for (const [k, v] of Object.entries(d.annotations)) if (typeof v === "string") annotations[k] = v;
  }
  const desc: PlatformDescriptor = {
    mediaType: typeof d.mediaType === "string" ? d.mediaType : "",
    digest: d.digest,
    size: d.size,
    annotations,
  };
  if (typeof d.platform === "object" && d.platform !== null) {
    const p = d.platform as Record<string, unknown>;
    if (typeof p.os === "string" && typeof p.architecture === "string") {
      desc.platform = {
        os: p.os,
        architecture: p.architecture,
        ...(typeof p.variant === "string" && p.variant !== "" ? { variant: p.variant } : {}),
      };
    }
  }
  return desc;
}

function parseJson(data: Uint8Array, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(data).toString("utf8"));
  } catch {
    throw invalidArgument(`${what} is not JSON: the image is malformed`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw invalidArgument(`${what} is not a JSON object: the image is malformed`);
  }
  return doc as Record<string, unknown>;
}

/** The children of an index. */
export function parseIndex(data: Uint8Array, digest: string): PlatformDescriptor[] {
  const doc = parseJson(data, `index ${digest}`);
  if (!Array.isArray(doc.manifests)) throw invalidArgument(`index ${digest} has no manifests list`);
  return doc.manifests.map((m: JsonDescriptor, i) => toDescriptor(m, `index ${digest} manifest ${i}`));
}

/** The config and layers of a manifest. */
export function parseManifest(
  data: Uint8Array,
  digest: string,
): { config: Descriptor; layers: Descriptor[] } {
  const doc = parseJson(data, `manifest ${digest}`);
  if (typeof doc.config !== "object" || doc.config === null || !Array.isArray(doc.layers)) {
    throw invalidArgument(`manifest ${digest} lacks a config or layers`);
  }
  const config = toDescriptor(doc.config as JsonDescriptor, `manifest ${digest} config`);
  const layers = doc.layers.map((l: JsonDescriptor, i) => toDescriptor(l, `manifest ${digest} layer ${i}`));
  return { config: plain(config), layers: layers.map(plain) };
}

/** The descriptor without its platform, as stored in image records and sent to the daemon. */
export function plain(d: PlatformDescriptor): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size, annotations: d.annotations };
}

/**
 * containerd's gc reference labels of a parent for its children: `…content.m.<i>` for
 * manifests, `…content.config` for a config, `…content.l.<i>` for layers.
 */
export function childGcLabels(children: readonly Descriptor[]): Record<string, string> {
  const labels: Record<string, string> = {};
  const counts = new Map<string, number>();
  for (const child of children) {
    const mt = child.mediaType;
    const prefix = isConfigType(mt)
      ? GC_REF_CONTENT_CONFIG
      : isManifestType(mt)
        ? GC_REF_CONTENT_MANIFEST
        : isLayerType(mt)
          ? GC_REF_CONTENT_LAYER
          : GC_REF_CONTENT;
    const n = counts.get(prefix) ?? 0;
    counts.set(prefix, n + 1);
    const key = n > 0 || prefix.endsWith(".") ? `${prefix}${n}` : prefix;
    labels[key] = child.digest;
  }
  return labels;
}

/**
 * The children of an index worth pulling for a platform, best first: matching ones by
 * preference, then those that name no platform (like containerd's FilterPlatforms and
 * LimitManifests).
 */
export function platformChildren(
  children: readonly PlatformDescriptor[],
  matcher: PlatformMatcher,
): PlatformDescriptor[] {
  return children
    .map((child, i) => ({
      child,
      i,
      rank: child.platform === undefined ? Number.MAX_SAFE_INTEGER : matcher.rank(child.platform),
    }))
    .filter((c) => c.rank !== Number.POSITIVE_INFINITY)
    .sort((a, b) => a.rank - b.rank || a.i - b.i)
    .map((c) => c.child);
}
