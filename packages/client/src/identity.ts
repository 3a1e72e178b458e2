// Content digests and layer chain IDs (the names of unpacked snapshots).

import { createHash } from "node:crypto";
import { invalidArgument } from "./errdefs.js";

const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;

export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

export function isSha256Digest(s: string): boolean {
  return SHA256_DIGEST.test(s);
}

/**
 * Chain IDs of every prefix of a layer stack: chain(0) = diffID(0), chain(n) =
 * sha256(chain(n-1) + " " + diffID(n)). The last one names the image's top snapshot.
 */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const diffId of diffIds) {
    if (!isSha256Digest(diffId)) throw invalidArgument(`invalid diff ID "${diffId}" in image config`);
    const parent = out[out.length - 1];
    out.push(parent === undefined ? diffId : sha256Digest(`${parent} ${diffId}`));
  }
  return out;
}

/** Chain ID of the whole stack. */
export function chainId(diffIds: readonly string[]): string {
  const ids = chainIds(diffIds);
  const top = ids[ids.length - 1];
  if (top === undefined) throw invalidArgument("chain ID of an empty layer stack");
  return top;
}
