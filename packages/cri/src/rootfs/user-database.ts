// An image's /etc/passwd and /etc/group, read through a short-lived read-only view of its
// top snapshot mounted under berth-cri's state dir: the container's user and groups are
// resolved against them, as containerd does when it builds the spec.

import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Mount } from "@berth/api/containerd/types/mount";
import { BerthError, uniquePart } from "@berth/client";
import { type GroupLookup, type PasswdLookup, userDatabase } from "@berth/client/oci/index";
import { execa } from "execa";
import type { CriConfig } from "../config.js";
import type { Containerd } from "../containerd.js";
import { unmount } from "../sys/libc.js";
import { resolveInRoot } from "./scoped-path.js";

export interface UserDatabase {
  passwd: PasswdLookup;
  group: GroupLookup;
}

/** Reads the users of the committed snapshot `chainId` under `lease` (imageUserDatabase on the node). */
export type ImageUsers = (chainId: string, lease: string) => Promise<UserDatabase>;

interface Daemon {
  config: CriConfig;
  containerd: Containerd;
}

async function mountAll(mounts: readonly Mount[], target: string): Promise<void> {
  for (const m of mounts) {
    const options = [...m.options];
    const args =
      m.type === "bind" || options.includes("bind") || options.includes("rbind")
        ? ["-o", [...new Set([...options, "ro"])].join(","), m.source, target]
        : ["-t", m.type, "-o", options.join(","), m.source, target];
    const r = await execa("mount", args, { reject: false, timeout: 30_000 });
    if (r.exitCode !== 0) {
      throw new BerthError(
        "Unknown",
        `cannot mount the image to read its users: mount ${args.join(" ")}: ${r.stderr.trim()}`,
      );
    }
  }
}

/**
 * A committed snapshot never changes, so an image's users are read once per chain ID and
 * kept (a few KiB each; the oldest go first beyond CACHE_SIZE). Pods of one image then
 * cost no mount at all. A failed read is not kept.
 */
const CACHE_SIZE = 64;
const cache = new Map<string, Promise<UserDatabase>>();

/** The passwd and group files of the snapshot `chainId` (committed: an image's top layer). */
export function imageUserDatabase(cri: Daemon, chainId: string, lease: string): Promise<UserDatabase> {
  const key = `${cri.config.containerd.snapshotter}/${chainId}`;
  const known = cache.get(key);
  if (known !== undefined) {
    cache.delete(key);
    cache.set(key, known); // most recently used last
    return known;
  }
  const reading = readUserDatabase(cri, chainId, lease);
  cache.set(key, reading);
  reading.catch(() => cache.delete(key));
  while (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  return reading;
}

async function readUserDatabase(cri: Daemon, chainId: string, lease: string): Promise<UserDatabase> {
  const { snapshotter } = cri.config.containerd;
  const conn = cri.containerd.withLease(lease);
  const key = `user-view-${uniquePart()}`;
  const res = await conn.snapshots.view({ snapshotter, key, parent: chainId, labels: {} });
  const base = join(cri.config.state, "tmpmounts");
  await mkdir(base, { recursive: true, mode: 0o700 });
  const target = await mkdtemp(join(base, "rootfs-"));
  try {
    await mountAll(res.mounts, target);
    try {
      const read = async (p: string) =>
        readFile(await resolveInRoot(target, p), "utf8").catch(() => undefined);
      const [passwd, group] = await Promise.all([read("etc/passwd"), read("etc/group")]);
      return userDatabase(passwd, group);
    } finally {
      await unmount(target);
    }
  } finally {
    await rm(target, { recursive: true, force: true }).catch(() => undefined);
    await conn.snapshots.remove({ snapshotter, key }).catch(() => undefined);
  }
}
