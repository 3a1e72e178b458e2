import { createHash } from "node:crypto";
import { invalidArgument } from "@berth/client/errdefs";

// The local store only speaks sha256, written canonically: anything else is refused at
// the door rather than turned into a path.

const sha256Digest = /^sha256:[0-9a-f]{64}$/;

/** The hex part of a valid `sha256:<64 lowercase hex>` digest; InvalidArgument otherwise. */
export function digestHex(digest: string): string {
  if (!sha256Digest.test(digest)) {
    throw invalidArgument(`invalid digest ${JSON.stringify(digest)}: want sha256:<64 lowercase hex digits>`);
  }
  return digest.slice("sha256:".length);
}

export function isDigest(digest: string): boolean {
  return sha256Digest.test(digest);
}

export function sha256Of(data: string | Uint8Array): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}
