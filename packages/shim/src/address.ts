import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join, posix } from "node:path";

// Where a shim listens. The socket name hashes the daemon address, the namespace and the
// grouping key, so every container with the same key (same pod, or same explicit group)
// finds the one shim already serving it.

export const SOCKET_DIR = "/run/berth/s";

/** Unix socket paths must fit in sockaddr_un; upstream shims keep them under 106 bytes. */
export const SOCKET_PATH_LIMIT = 106;

/** Annotations that group containers into one shim, in order of precedence. */
export const GROUP_ANNOTATIONS = ["io.containerd.runc.v2.group", "io.kubernetes.cri.sandbox-id"] as const;

/** The grouping key of a bundle's OCI spec: its group annotation, else the container id. */
export function groupKey(spec: unknown, id: string): string {
  const annotations =
    typeof spec === "object" && spec !== null && "annotations" in spec ? spec.annotations : undefined;
  if (typeof annotations === "object" && annotations !== null) {
    for (const key of GROUP_ANNOTATIONS) {
      const value: unknown = (annotations as Record<string, unknown>)[key];
      if (typeof value === "string") return value;
    }
  }
  return id;
}

export async function readGroupKey(bundle: string, id: string): Promise<string> {
  const spec: unknown = JSON.parse(await readFile(join(bundle, "config.json"), "utf8"));
  return groupKey(spec, id);
}

/** `unix:///run/berth/s/<sha256(address/namespace/group)>`. */
export function socketAddress(
  daemonAddress: string,
  namespace: string,
  group: string,
  dir = SOCKET_DIR,
): string {
  const digest = createHash("sha256")
    .update(posix.join(daemonAddress, namespace, group))
    .digest("hex");
  const path = posix.join(dir, digest);
  if (Buffer.byteLength(path) > SOCKET_PATH_LIMIT) {
    throw new Error(`shim socket path ${path} is longer than ${SOCKET_PATH_LIMIT} bytes`);
  }
  return `unix://${path}`;
}

/** The filesystem path of a `unix://` address. */
export function socketPath(address: string): string {
  if (!address.startsWith("unix://")) throw new Error(`not a unix socket address: ${address}`);
  return address.slice("unix://".length);
}
