// Which shim serves a container. Berth's shim and runc's both serve, in one process, every
// container whose OCI spec carries the same group key: the annotation
// `io.containerd.runc.v2.group` if set, else `io.kubernetes.cri.sandbox-id`. berth-cri
// chooses the key by `shim.policy`, trading shim count (memory, start-ups) for blast radius:
//   per-pod        no annotation: the sandbox id groups a pod (containerd's default)
//   per-container  the container's own id: one shim per container
//   pooled         `shim.poolSize` pods per shim, a new pod joining the first pool with room
// A pooled pod's pool is a label on its sandbox record in the daemon, so the pod's later
// containers find it, also after berth-cri restarts; what is kept here is a cache of those
// labels and the claims of sandboxes still being created.
//
// A pool's first sandbox starts its shim alone: the shim's `start` action listens on the
// group's socket and, until it exits, accepts (and then drops) connections meant for the
// shim it spawned, so a second task created in the group meanwhile would fail with
// "connection closed". Tasks of the pool wait until the first one is created.

import { isNotFound } from "@berth/client";
import type { ShimPolicy } from "../config.js";
import type { Cri } from "../cri.js";
import { containerState } from "../store/stores.js";

export const SHIM_GROUP_ANNOTATION = "io.containerd.runc.v2.group";
/** On a pooled sandbox's record: the number of its pool. */
export const SHIM_POOL_LABEL = "io.berth.cri.shim-pool";

/** The group key of a pool; it names the shim's socket, so it must stay stable across restarts. */
export function poolGroupKey(pool: number): string {
  return `berth-cri-pool-${pool}`;
}

export function parsePoolLabel(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  const pool = Number(value);
  return Number.isSafeInteger(pool) ? pool : undefined;
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

/** What pool assignment reads: berth-cri's pods, and a sandbox record's pool label. */
export interface PoolSource {
  pods(): PodView[];
  /** The pool label of the sandbox's record in the daemon (undefined: none, or no record). */
  readPoolLabel(sandboxId: string): Promise<string | undefined>;
}

export interface PoolClaim {
  pool: number;
  /** The pool was empty: this sandbox's task starts its shim. */
  opens: boolean;
}

/** Assigns pods to pools; a pod holds its place while it is live or being created. */
export class ShimPools {
  /** Sandbox id → pool (null: not pooled), as its record says. */
  readonly #known = new Map<string, number | null>();
  readonly #reading = new Map<string, Promise<number | null>>();
  /** Sandboxes being created → the pool they claimed. */
  readonly #claims = new Map<string, number>();
  /** Pools whose shim a sandbox is starting → that sandbox, and the end of its start. */
  readonly #opening = new Map<number, { by: string; done: Promise<void>; resolve: () => void }>();

  constructor(
    readonly size: number,
    private readonly source: PoolSource,
  ) {}

  /** The pool of a sandbox, from its claim or its record; undefined when it is not pooled. */
  async poolOf(sandboxId: string): Promise<number | undefined> {
    const claimed = this.#claims.get(sandboxId);
    if (claimed !== undefined) return claimed;
    const known = this.#known.get(sandboxId);
    if (known !== undefined) return known ?? undefined;
    return (await this.#read(sandboxId)) ?? undefined;
  }

  #read(sandboxId: string): Promise<number | null> {
    let reading = this.#reading.get(sandboxId);
    if (reading === undefined) {
      reading = this.source
        .readPoolLabel(sandboxId)
        .then((label) => {
          const pool = parsePoolLabel(label) ?? null;
          this.#known.set(sandboxId, pool);
          return pool;
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
    const taken = [...this.#claims.values()];
    for (const p of pods) {
      const pool = this.#known.get(p.id);
      if (p.live && !this.#claims.has(p.id) && pool !== undefined && pool !== null) taken.push(pool);
    }
    const pool = firstPoolWithRoom(taken, this.size);
    this.#claims.set(sandboxId, pool);
    const opens = !taken.includes(pool) && !this.#opening.has(pool);
    if (opens) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => {
        resolve = r;
      });
      this.#opening.set(pool, { by: sandboxId, done, resolve });
    }
    return { pool, opens };
  }

  /** Resolves once no other sandbox is starting the pool's shim. */
  async shimReady(pool: number): Promise<void> {
    await this.#opening.get(pool)?.done;
  }

  /** The sandbox that opened its pool is past starting the shim (its task exists, or it failed). */
  shimStarted(sandboxId: string): void {
    const pool = this.#claims.get(sandboxId);
    const opening = pool === undefined ? undefined : this.#opening.get(pool);
    if (pool === undefined || opening === undefined || opening.by !== sandboxId) return;
    this.#opening.delete(pool);
    opening.resolve();
  }

  /** The sandbox's record now carries its pool (created), or its creation was undone. */
  settle(sandboxId: string, created: boolean): void {
    this.shimStarted(sandboxId);
    const pool = this.#claims.get(sandboxId);
    this.#claims.delete(sandboxId);
    if (created) this.#known.set(sandboxId, pool ?? null);
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
      readPoolLabel: async (id) => {
        try {
          const { container } = await cri.containerd.containers.get({ id });
          return container?.labels[SHIM_POOL_LABEL];
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

/** The pause container's part: a record label, spec annotations, and the end of its claim. */
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
  const { pool, opens } = await pools.claim(sandboxId);
  const group = poolGroupKey(pool);
  return {
    createTask: async (create) => {
      if (!opens) await pools.shimReady(pool);
      try {
        return await create();
      } finally {
        pools.shimStarted(sandboxId);
      }
    },
    group,
    labels: { [SHIM_POOL_LABEL]: String(pool) },
    annotations: { [SHIM_GROUP_ANNOTATION]: group },
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
  const pool = await shimPools(cri).poolOf(sandboxId);
  return pool === undefined ? {} : { [SHIM_GROUP_ANNOTATION]: poolGroupKey(pool) };
}
