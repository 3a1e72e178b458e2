// What a stack leaves behind once every pod is removed, and whether its content store
// still holds what its digests say. Everything is looked up where the stack keeps it
// (RuntimeLayout), so other runtimes on the node do not count.
import { existsSync } from "node:fs";
import { readFile, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import type { RuntimeLayout } from "../bench/cri-runtimes.js";
import type { TestNetwork } from "../cri/network.js";
import { cgroupsUnder } from "../fixtures/cgroups.js";
import { contentDigest, ctr, parseTable } from "../fixtures/ctr.js";
import { listMounts } from "../fixtures/mounts.js";

export interface Leaks {
  /** Pinned network namespaces (nsfs mounts, or files left in a netns dir) of the stack. */
  netns: string[];
  /** Other mounts (overlay rootfs, shm…) under the stack's roots and states. */
  mounts: string[];
  /** cgroups left under the run's cgroup parent (by path below it; one in each hierarchy). */
  cgroups: string[];
  /** Shim processes still serving the daemon. */
  shims: number[];
  /** runc state dirs of containers whose bundle is the stack's. */
  runcState: string[];
  /** iptables rules naming the test network's bridge, subnet or CNI network, beyond the network's own. */
  iptables: string[];
  /** Leases in the k8s.io namespace without an expiry (ones with `containerd.io/gc.expire` go by themselves). */
  leases: string[];
}

/** Leases with `containerd.io/gc.expire`: garbage collection drops them when they expire. */
export type ExpiringLeases = string[];

const under = (path: string, dirs: readonly string[]) =>
  dirs.some((d) => path === d || path.startsWith(`${d}/`));

async function netnsLeaks(layout: RuntimeLayout): Promise<string[]> {
  const pinned = (await listMounts())
    .filter((m) => m.fsType === "nsfs" && under(m.target, layout.dirs))
    .map((m) => m.target);
  // berth-cri pins them in <state>/netns, containerd's CRI in <state>/io.containerd.grpc.v1.cri/netns.
  const files: string[] = [];
  for (const d of layout.dirs) {
    for (const dir of [join(d, "netns"), join(d, "io.containerd.grpc.v1.cri", "netns")]) {
      if (!existsSync(dir)) continue;
      for (const f of await readdir(dir).catch(() => [] as string[])) files.push(join(dir, f));
    }
  }
  return [...new Set([...pinned, ...files])].sort();
}

async function mountLeaks(layout: RuntimeLayout): Promise<string[]> {
  return (await listMounts())
    .filter((m) => m.fsType !== "nsfs" && under(m.target, layout.dirs))
    .map((m) => `${m.fsType} ${m.target}`)
    .sort();
}

/**
 * runc state dirs whose state.json names a bundle of the stack, and those of the containers
 * whose `runc create` was killed (which may have no state.json: the create died half-way).
 */
export async function runcStateLeaks(
  layout: RuntimeLayout,
  killedCreates: readonly string[],
): Promise<string[]> {
  const out = new Set<string>();
  for (const id of await readdir(layout.runcRoot).catch(() => [] as string[])) {
    const state = await readFile(join(layout.runcRoot, id, "state.json"), "utf8").catch(() => "");
    if (state.includes(`${layout.daemonState}/`) || killedCreates.includes(id))
      out.add(join(layout.runcRoot, id));
  }
  return [...out].sort();
}

/** `iptables -S` rules (filter and nat) that mention the network: its own FORWARD drops aside. */
export async function networkRules(network: TestNetwork): Promise<string[]> {
  const rules: string[] = [];
  for (const table of ["filter", "nat"]) {
    const r = await execa("iptables", ["-w", "10", "-t", table, "-S"], { reject: false, timeout: 30_000 });
    if (r.exitCode !== 0) throw new Error(`iptables -t ${table} -S: ${r.stderr}`);
    rules.push(...r.stdout.split("\n").map((l) => `${table} ${l}`));
  }
  const names = [network.bridge, network.prefix, `berth-e2e-${network.bridge}`];
  return rules
    .filter((l) => / -A /.test(l) && names.some((n) => l.includes(n)))
    .filter((l) => !/^filter -A FORWARD (-i|-o) \S+ ! (-o|-i) \S+ -j DROP$/.test(l))
    .sort();
}

/** The k8s.io leases: without an expiry, and with one. */
async function leasesLeft(layout: RuntimeLayout): Promise<{ lasting: string[]; expiring: string[] }> {
  const r = await ctr(layout.apiAddress, ["leases", "ls"], { namespace: "k8s.io", timeoutMs: 30_000 });
  if (r.exitCode !== 0) return { lasting: [`(ctr leases ls failed: ${r.stderr.trim()})`], expiring: [] };
  const all = parseTable(r.stdout).map((l) => `${l.ID ?? "?"} ${l.LABELS ?? ""}`.trim());
  const expiring = all.filter((l) => l.includes("containerd.io/gc.expire="));
  return { lasting: all.filter((l) => !expiring.includes(l)).sort(), expiring: expiring.sort() };
}

/** The cgroups below the parent, each once whatever the number of hierarchies holding it. */
function cgroupLeaks(cgroupParent: string): string[] {
  const below = new Set<string>();
  for (const dir of cgroupsUnder(cgroupParent, "", { unified: true })) {
    const at = dir.indexOf(`/${cgroupParent}/`);
    if (at >= 0) below.add(dir.slice(at));
  }
  return [...below].sort();
}

export interface LeakScope {
  /** The run's cgroup parent (a name under each hierarchy's root). */
  cgroupParent: string;
  network: TestNetwork;
  /** networkRules() before the run. */
  rulesBefore: readonly string[];
  /** Containers whose `runc create` a fault killed. */
  killedCreates: readonly string[];
}

export async function findLeaks(
  layout: RuntimeLayout,
  shimPids: () => number[],
  scope: LeakScope,
): Promise<{ leaks: Leaks; expiringLeases: ExpiringLeases }> {
  const before = new Set(scope.rulesBefore);
  const leases = await leasesLeft(layout);
  const leaks: Leaks = {
    netns: await netnsLeaks(layout),
    mounts: await mountLeaks(layout),
    cgroups: cgroupLeaks(scope.cgroupParent),
    shims: shimPids(),
    runcState: await runcStateLeaks(layout, scope.killedCreates),
    iptables: (await networkRules(scope.network)).filter((l) => !before.has(l)),
    leases: leases.lasting,
  };
  return { leaks, expiringLeases: leases.expiring };
}

export interface BlobCheck {
  blobs: number;
  /** Digests whose content (as ctr content get streams it) hashes to something else. */
  corrupt: string[];
}

/** Every blob of the k8s.io namespace read back through the daemon and hashed. */
export async function checkBlobs(layout: RuntimeLayout): Promise<BlobCheck> {
  const r = await ctr(layout.apiAddress, ["content", "ls", "-q"], { namespace: "k8s.io", timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new Error(`${r.command}: ${r.stderr.trim()}`);
  const digests = r.stdout.split("\n").filter((d) => d.startsWith("sha256:"));
  const corrupt: string[] = [];
  for (const d of digests) {
    if ((await contentDigest(layout.apiAddress, d, { namespace: "k8s.io" })) !== d) corrupt.push(d);
  }
  return { blobs: digests.length, corrupt };
}

/**
 * The last clean-up of a run, after CRI removed what it knew: through the daemon, every
 * task and container left in k8s.io (orphans CRI had lost track of) goes. Quiet, bounded.
 */
export async function removeOrphans(layout: RuntimeLayout): Promise<void> {
  const list = async (what: string) => {
    const r = await ctr(layout.apiAddress, [what, "ls", "-q"], { namespace: "k8s.io", timeoutMs: 30_000 });
    return r.exitCode === 0 ? r.stdout.split("\n").filter((l) => l.trim() !== "") : [];
  };
  const run = (args: string[]) => ctr(layout.apiAddress, args, { namespace: "k8s.io", timeoutMs: 30_000 });
  for (const id of await list("tasks")) {
    await run(["tasks", "kill", "-s", "SIGKILL", id]);
    await run(["tasks", "delete", "--force", id]);
  }
  for (const id of await list("containers")) await run(["containers", "rm", id]);
}

/** After the daemons stopped: shims still serving them are killed, and runc state dirs of theirs deleted. */
export async function killStragglers(
  shims: readonly number[],
  layout: RuntimeLayout,
  runcDirs: readonly string[],
) {
  for (const pid of shims) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  for (const dir of runcDirs) {
    const id = dir.slice(dir.lastIndexOf("/") + 1);
    const r = await execa("runc", ["--root", layout.runcRoot, "delete", "--force", id], {
      reject: false,
      timeout: 30_000,
    });
    if (r.exitCode !== 0) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
