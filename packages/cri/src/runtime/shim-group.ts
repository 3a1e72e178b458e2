// Which shim serves a container. Berth's shim and runc's both serve, in one process, every
// container whose OCI spec carries the same group key: the annotation
// `io.containerd.runc.v2.group` if set, else `io.kubernetes.cri.sandbox-id`. berth-cri
// chooses the key by `shim.policy`, trading shim count (memory, start-ups) for blast radius:
//   per-pod        no annotation: the sandbox id groups a pod (containerd's default)
//   per-container  the container's own id: one shim per container
//   pooled         `shim.poolSize` pods per shim, a new pod joining the first pool with room
// A pooled pod's pool and group key are labels on its sandbox record in the daemon, so the
// pod's later containers find them, also after berth-cri restarts; what is kept here is a
// cache of those labels and the claims of sandboxes still being created.
//
// A pool's group key is the id of the sandbox that opened it, so that a pool emptied and
// opened again gets a new shim socket instead of the path of a shim that may still be
// shutting down (and would remove it on its way out).
//
// A pool's first sandbox starts its shim alone: the shim's `start` action listens on the
// group's socket and, until it exits, accepts (and then drops) connections meant for the
// shim it spawned, so a second task created in the group meanwhile could fail with
// "connection closed". Tasks of the pool wait until the first one is created.

import { isNotFound } from "@berth/client";
import type { ShimPolicy } from "../config.js";
import type { Cri } from "../cri.js";
import { containerState } from "../store/stores.js";

export const SHIM_GROUP_ANNOTATION = "io.containerd.runc.v2.group";
/** On a pooled sandbox's record: the number of its pool. */
export const SHIM_POOL_LABEL = "io.berth.cri.shim-pool";
/** On a pooled sandbox's record: its pool's group key. */
export const SHIM_GROUP_LABEL = "io.berth.cri.shim-group";

/** Where a pooled pod's containers run. */
export interface Placement {
  pool: number;
  group: string;
}

export function placementLabels(p: Placement): Record<string, string> {
  return { [SHIM_POOL_LABEL]: String(p.pool), [SHIM_GROUP_LABEL]: p.group };
}

/** A sandbox record's placement; undefined when it was not pooled (or its labels are damaged). */
export function parsePlacement(labels: Record<string, string> | undefined): Placement | undefined {
  const pool = labels?.[SHIM_POOL_LABEL];
  const group = labels?.[SHIM_GROUP_LABEL];
  if (pool === undefined || !/^\d{1,9}$/.test(pool) || group === undefined || group === "") return undefined;
  return { pool: Number(pool), group };
}

/** The lowest-numbered pool holding fewer than `size` pods, given each pod's pool. */
export function firstPoolWithRoom(podPools: Iterable<number>, size: number): number {
  const counts = new Map<number, number>();
  for (const pool of podPools) counts.set(pool, (counts.get(pool) ?? 0) + 1);
  for (let pool = 0; ; pool++) if ((counts.get(pool) ?? 0) < size) return pool;
}

export interface PodView {
  id: string;
  /** It still has processes in its shim: the sandbox is ready, or a container runs. */
  live: boolean;
}

/** What pool assignment reads: berth-cri's pods, and a sandbox record's labels. */
export interface PoolSource {
  pods(): PodView[];
  /** The labels of the sandbox's record in the daemon (undefined: no record). */
  readLabels(sandboxId: string): Promise<Record<string, string> | undefined>;
}

export interface PoolClaim extends Placement {
  /** The pool was empty: this sandbox's task starts its shim. */
  opens: boolean;
}

/** Assigns pods to pools; a pod holds its place while it is live or being created. */
export class ShimPools {
  /** Sandbox id → placement (null: not pooled), as its record says. */
  readonly #known = new Map<string, Placement | null>();
  readonly #reading = new Map<string, Promise<Placement | null>>();
  /** Sandboxes being created → their claimed placement. */
  readonly #claims = new Map<string, Placement>();
  /** Groups whose shim a sandbox is starting → that sandbox, and the end of its start. */
  readonly #opening = new Map<string, { by: string; done: Promise<void>; resolve: () => void }>();

  constructor(
    readonly size: number,
    private readonly source: PoolSource,
  ) {}

  /** A sandbox's placement, from its claim or its record; undefined when it is not pooled. */
  async placementOf(sandboxId: string): Promise<Placement | undefined> {
    const claimed = this.#claims.get(sandboxId);
    if (claimed !== undefined) return claimed;
    const known = this.#known.get(sandboxId);
    if (known !== undefined) return known ?? undefined;
    return (await this.#read(sandboxId)) ?? undefined;
  }

  #read(sandboxId: string): Promise<Placement | null> {
    let reading = this.#reading.get(sandboxId);
    if (reading === undefined) {
      reading = this.source
        .readLabels(sandboxId)
        .then((labels) => {
          const placement = parsePlacement(labels) ?? null;
          this.#known.set(sandboxId, placement);
          return placement;
        })
        .finally(() => this.#reading.delete(sandboxId));
      this.#reading.set(sandboxId, reading);
    }
    return reading;
  }

  /** Claims the first pool with room for a new sandbox; settle() ends the claim. */
  async claim(sandboxId: string): Promise<PoolClaim> {
    // Pods not seen yet (recovered after a restart) are read from their records first.
    for (;;) {
      const unread = this.source
        .pods()
        .filter((p) => !this.#known.has(p.id) && !this.#claims.has(p.id) && p.id !== sandboxId);
      if (unread.length === 0) break;
      await Promise.all(unread.map((p) => this.#read(p.id)));
    }
    // From here on synchronous, so concurrent claims see each other.
    const pods = this.source.pods();
    const present = new Set(pods.map((p) => p.id));
    for (const id of this.#known.keys()) if (!present.has(id)) this.#known.delete(id);
    const taken: number[] = [];
    const groupOf = new Map<number, string>();
    const occupy = (p: Placement) => {
      taken.push(p.pool);
      if (!groupOf.has(p.pool)) groupOf.set(p.pool, p.group);
    };
    for (const p of this.#claims.values()) occupy(p);
    for (const p of pods) {
      const placement = this.#known.get(p.id);
      if (p.live && !this.#claims.has(p.id) && placement) occupy(placement);
    }
    const pool = firstPoolWithRoom(taken, this.size);
    const group = groupOf.get(pool);
    const claim = { pool, group: group ?? sandboxId, opens: group === undefined };
    this.#claims.set(sandboxId, { pool, group: claim.group });
    if (claim.opens) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => {
        resolve = r;
      });
      this.#opening.set(claim.group, { by: sandboxId, done, resolve });
    }
    return claim;
  }

  /** Resolves once no other sandbox is starting the group's shim. */
  async shimReady(group: string): Promise<void> {
    await this.#opening.get(group)?.done;
  }

  /** The sandbox that opened its pool is past starting the shim (its task exists, or it failed). */
  shimStarted(sandboxId: string): void {
    const group = this.#claims.get(sandboxId)?.group;
    const opening = group === undefined ? undefined : this.#opening.get(group);
    if (group === undefined || opening === undefined || opening.by !== sandboxId) return;
    this.#opening.delete(group);
    opening.resolve();
  }

  /** The sandbox's record now carries its placement (created), or its creation was undone. */
  settle(sandboxId: string, created: boolean): void {
    this.shimStarted(sandboxId);
    const placement = this.#claims.get(sandboxId);
    this.#claims.delete(sandboxId);
    if (created) this.#known.set(sandboxId, placement ?? null);
  }

  /** A sandbox created without a pool (another policy): its containers need no lookup. */
  markUnpooled(sandboxId: string): void {
    this.#known.set(sandboxId, null);
  }
}

const poolsOf = new WeakMap<Cri, ShimPools>();

function shimPools(cri: Cri): ShimPools {
  let pools = poolsOf.get(cri);
  if (pools === undefined) {
    const live = (id: string, ready: boolean) =>
      ready ||
      cri.containers.ofSandbox(id).some((c) => {
        const state = containerState(c);
        return state === "running" || state === "unknown";
      });
    pools = new ShimPools(cri.config.shim.poolSize, {
      pods: () =>
        cri.sandboxes.list().map((s) => ({ id: s.meta.id, live: live(s.meta.id, s.state === "ready") })),
      readLabels: async (id) => {
        try {
          const { container } = await cri.containerd.containers.get({ id });
          return container?.labels;
        } catch (err) {
          if (isNotFound(err)) return undefined;
          throw err;
        }
      },
    });
    poolsOf.set(cri, pools);
  }
  return pools;
}

/** The pause container's part: record labels, spec annotations, and the end of its claim. */
export interface SandboxShimGroup {
  /** Creates the pause task once the group's shim can take it (see above). */
  createTask<T>(create: () => Promise<T>): Promise<T>;
  /** The group key ("" when it is the sandbox id, the default). */
  group: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Call once: true when the sandbox's record exists, false when its creation was undone. */
  settle(created: boolean): void;
}

export async function sandboxShimGroup(cri: Cri, sandboxId: string): Promise<SandboxShimGroup> {
  const policy: ShimPolicy = cri.config.shim.policy;
  const pools = shimPools(cri);
  if (policy !== "pooled") {
    // per-pod, and per-container: the pause container's default key is its own id.
    return {
      createTask: (create) => create(),
      group: "",
      labels: {},
      annotations: {},
      settle: (created) => {
        if (created) pools.markUnpooled(sandboxId);
      },
    };
  }
  const claim = await pools.claim(sandboxId);
  return {
    createTask: async (create) => {
      if (!claim.opens) await pools.shimReady(claim.group);
      try {
        return await create();
      } finally {
        pools.shimStarted(sandboxId);
      }
    },
    group: claim.group,
    labels: placementLabels(claim),
    annotations: { [SHIM_GROUP_ANNOTATION]: claim.group },
    settle: (created) => pools.settle(sandboxId, created),
  };
}

/**
 * Spec annotations of an application container. Unless the policy is per-container, a
 * pod created pooled keeps its containers in its pool after a change of policy.
 */
export async function containerShimGroup(
  cri: Cri,
  containerId: string,
  sandboxId: string,
): Promise<Record<string, string>> {
  if (cri.config.shim.policy === "per-container") return { [SHIM_GROUP_ANNOTATION]: containerId };
  const placement = await shimPools(cri).placementOf(sandboxId);
  return placement === undefined ? {} : { [SHIM_GROUP_ANNOTATION]: placement.group };
}
