import type { KeyValue } from "@berth/api/ttrpc/ttrpc";

/** Request metadata: lower-case keys, each with one or more values. */
export type Metadata = Map<string, string[]>;

/** Metadata as callers write it: a Map or a plain object, one value or several per key. */
export type MetadataInit =
  | ReadonlyMap<string, string | readonly string[]>
  | Readonly<Record<string, string | readonly string[]>>;

/** The metadata key that carries the containerd namespace over ttrpc (over gRPC it is `containerd-namespace`). */
export const NAMESPACE_METADATA_KEY = "containerd-namespace-ttrpc";

/** Metadata naming a containerd namespace, for `defaultMetadata` or a call's `metadata`. */
export function namespaceMetadata(namespace: string): MetadataInit {
  return { [NAMESPACE_METADATA_KEY]: namespace };
}

function entries(init: MetadataInit): Iterable<[string, string | readonly string[]]> {
  return init instanceof Map ? init.entries() : Object.entries(init);
}

/** One metadata set from several; a later set replaces an earlier set's values for the same key. */
export function mergeMetadata(
  ...inits: (MetadataInit | undefined)[]
): Map<string, string | readonly string[]> {
  const merged = new Map<string, string | readonly string[]>();
  for (const init of inits) {
    if (init === undefined) continue;
    for (const [key, value] of entries(init)) merged.set(key.toLowerCase(), value);
  }
  return merged;
}

/** Wire form: keys in lower case (as upstream's metadata stores them), one pair per value. */
export function metadataToWire(init: MetadataInit): KeyValue[] {
  const out: KeyValue[] = [];
  for (const [key, value] of entries(init)) {
    const k = key.toLowerCase();
    if (typeof value === "string") out.push({ key: k, value });
    else for (const v of value) out.push({ key: k, value: v });
  }
  return out;
}

export function metadataFromWire(pairs: readonly KeyValue[]): Metadata {
  const md: Metadata = new Map();
  for (const { key, value } of pairs) {
    const k = key.toLowerCase();
    const values = md.get(k);
    if (values === undefined) md.set(k, [value]);
    else values.push(value);
  }
  return md;
}
