// berth-cri's in-memory index of sandboxes and containers. It is a cache: every record
// it holds was written to the daemon first, and recovery rebuilds it from there.

import { notFound } from "@berth/client";
import type { CriLogFile } from "../io/cri-log.js";
import type { FifoSet } from "../io/fifo.js";
import type { OutputFanOut } from "../io/output-fanout.js";
import type { ContainerMetadata, ContainerStatusRecord, SandboxMetadata } from "./records.js";

export type SandboxState = "ready" | "notready";

export interface Sandbox {
  meta: SandboxMetadata;
  state: SandboxState;
  /** The pause process (0 once it is gone). */
  pid: number;
  /** The pause task's exit being handled, so the event monitor and StopPodSandbox do it once. */
  exiting?: Promise<void>;
}

export type ContainerState = "created" | "running" | "exited" | "unknown";

/**
 * The output side of a started container whose CRI log berth-cri writes: its FIFOs and the
 * copy into the log. Containers on Berth's shim have none: the shim writes the log.
 */
export interface ContainerIO {
  fifos: FifoSet;
  log: CriLogFile;
  /** The output as it is read, for attach (io/output-fanout.ts). */
  output: OutputFanOut;
  /** Resolves when both streams have ended. */
  done: Promise<void>;
  /** Stops reading (the streams are destroyed). */
  close(): void;
  /** Closes berth-cri's own writer on the stdin FIFO, when it holds one (stdin_once). */
  closeStdin?(): void;
}

export interface Container {
  meta: ContainerMetadata;
  status: ContainerStatusRecord;
  /** The task's state could not be read (berth-cri restarted and the daemon did not know). */
  unknown: boolean;
  /** undefined when the shim writes the log (cri-log://), or before the start. */
  io: ContainerIO | undefined;
  /** Resolves once the container has exited (status.finishedAt set). */
  exited: Promise<void>;
  /** The exit being handled, so the event monitor and StopContainer do it once. */
  exiting: Promise<void> | undefined;
  markExited(): void;
}

export function containerState(c: Pick<Container, "status" | "unknown">): ContainerState {
  if (c.unknown) return "unknown";
  if (c.status.finishedAt > 0n) return "exited";
  if (c.status.startedAt > 0n) return "running";
  return "created";
}

export function newContainer(meta: ContainerMetadata, status: ContainerStatusRecord): Container {
  let resolve!: () => void;
  const exited = new Promise<void>((r) => {
    resolve = r;
  });
  const c: Container = {
    meta,
    status,
    unknown: false,
    io: undefined,
    exited,
    exiting: undefined,
    markExited: resolve,
  };
  if (status.finishedAt > 0n) resolve();
  return c;
}

/** Finds an entry by full ID or by a unique ID prefix, as crictl lets users type. */
function byIdOrPrefix<T>(map: Map<string, T>, id: string, what: string): T {
  const exact = map.get(id);
  if (exact !== undefined) return exact;
  if (id !== "") {
    const matches = [...map.keys()].filter((k) => k.startsWith(id));
    if (matches.length === 1) return map.get(matches[0]!)!;
  }
  throw notFound(`${what} "${id}" not found`);
}

export class SandboxStore {
  readonly #items = new Map<string, Sandbox>();

  add(s: Sandbox): void {
    this.#items.set(s.meta.id, s);
  }
  get(id: string): Sandbox {
    return byIdOrPrefix(this.#items, id, "sandbox");
  }
  find(id: string): Sandbox | undefined {
    return this.#items.get(id);
  }
  delete(id: string): void {
    this.#items.delete(id);
  }
  list(): Sandbox[] {
    return [...this.#items.values()];
  }
}

export class ContainerStore {
  readonly #items = new Map<string, Container>();

  add(c: Container): void {
    this.#items.set(c.meta.id, c);
  }
  get(id: string): Container {
    return byIdOrPrefix(this.#items, id, "container");
  }
  find(id: string): Container | undefined {
    return this.#items.get(id);
  }
  delete(id: string): void {
    this.#items.delete(id);
  }
  list(): Container[] {
    return [...this.#items.values()];
  }
  ofSandbox(sandboxId: string): Container[] {
    return this.list().filter((c) => c.meta.sandboxId === sandboxId);
  }
}
