// A process run in a container for ExecSync and for the streaming server's exec: the
// container's process settings with another argv, its FIFOs under <state>/exec/<id>, the
// daemon's Exec, a Wait in flight before the Start (so even an instant exit is seen), and,
// once it is over, the process deleted and its FIFOs removed. What each caller does with
// the output (collect it, or join it to a client's streams) is its own.

import { randomBytes } from "node:crypto";
import type net from "node:net";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { errorMessage, isNotFound } from "@berth/client";
import type { Spec } from "@berth/client/oci/index";
import type { Cri } from "../cri.js";
import {
  type FifoSet,
  type PendingReader,
  createFifoSet,
  openFifoWriter,
  openReaderWaiting,
  removeFifoSet,
} from "../io/fifo.js";
import { SIGKILL } from "./task.js";

const PROCESS_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process";

export type ProcessSpec = NonNullable<Spec["process"]>;
/** An exec's process: a terminal may start at the client's size. */
export type ExecProcessSpec = ProcessSpec & { consoleSize?: { width: number; height: number } };

/** The process settings of a container's spec in the daemon; undefined when its record has no spec. */
export async function containerProcess(cri: Cri, containerId: string): Promise<ProcessSpec | undefined> {
  const record = (await cri.containerd.containers.get({ id: containerId })).container;
  if (record?.spec === undefined) return undefined;
  return (JSON.parse(Buffer.from(record.spec.value).toString("utf8")) as Spec).process;
}

/** The container's process with `args`; a terminal gets TERM when the container has none (as containerd). */
export function execProcessSpec(
  base: ProcessSpec,
  args: readonly string[],
  tty: boolean,
  consoleSize?: { width: number; height: number },
): ExecProcessSpec {
  const env = [...(base.env ?? [])];
  if (tty && !env.some((e) => e.startsWith("TERM="))) env.push("TERM=xterm");
  return {
    ...base,
    args: [...args],
    env,
    terminal: tty,
    ...(tty && consoleSize !== undefined ? { consoleSize } : {}),
  };
}

/** Settles with `p`'s value, or undefined once `ms` have passed. */
export function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export interface ExecOptions {
  containerId: string;
  spec: ExecProcessSpec;
  tty: boolean;
  /** A stdin FIFO, with berth-cri's writer on it. */
  stdin: boolean;
  /** Stops waiting for the exit (the exit promise rejects with its reason). */
  signal?: AbortSignal;
}

/** A started exec process. */
export interface ExecProcess {
  readonly execId: string;
  readonly stdout: Readable;
  /** undefined with a terminal (its output is all on stdout). */
  readonly stderr: Readable | undefined;
  /** berth-cri's writer on the stdin FIFO. */
  readonly stdin: net.Socket | undefined;
  /** The exit status; rejects when the wait is stopped or the daemon fails. */
  readonly exited: Promise<number>;
  /** SIGKILL, then a wait of at most `ms` for it to be gone. */
  kill(ms: number): Promise<void>;
  /** Lets go of the shim's end of stdin, so the process reads EOF. */
  closeStdin(): Promise<void>;
  resize(size: { width: number; height: number }): Promise<unknown>;
  /** Deletes the process in the daemon (the shim then closes its ends of the FIFOs); once only. */
  delete(): Promise<void>;
}

/**
 * Runs `spec` in the container: FIFOs, Exec, Wait, Start, then `use` with the process and
 * its output streams open. Whatever `use` returns or throws, the process is deleted and
 * its FIFOs removed before this returns.
 */
export async function runExecProcess<T>(
  cri: Cri,
  options: ExecOptions,
  use: (p: ExecProcess) => Promise<T>,
): Promise<T> {
  const { containerId, tty } = options;
  const execId = randomBytes(32).toString("hex");
  const fifos: FifoSet = await createFifoSet(join(cri.config.state, "exec", execId), execId, {
    stdin: options.stdin,
    terminal: tty,
  });
  const readers: PendingReader[] = [openReaderWaiting(fifos.stdout)];
  if (fifos.stderr !== "") readers.push(openReaderWaiting(fifos.stderr));
  let stdin: net.Socket | undefined;
  const stopWaiting = new AbortController();
  let added = false;
  const deleteOnce = async () => {
    if (!added) return;
    added = false;
    await deleteExec(cri, containerId, execId);
  };
  try {
    if (fifos.stdin !== "") stdin = await openFifoWriter(fifos.stdin);
    await cri.containerd.tasks.exec({
      containerId,
      execId,
      stdin: fifos.stdin,
      stdout: fifos.stdout,
      stderr: fifos.stderr,
      terminal: tty,
      spec: { typeUrl: PROCESS_TYPE_URL, value: Buffer.from(JSON.stringify(options.spec)) },
    });
    added = true;
    const signal =
      options.signal === undefined
        ? stopWaiting.signal
        : AbortSignal.any([stopWaiting.signal, options.signal]);
    const exited = cri.containerd.tasks.wait({ containerId, execId }, { signal }).then((r) => r.exitStatus);
    exited.catch(() => undefined);
    await cri.containerd.tasks.start({ containerId, execId });
    const [stdout, stderr] = await Promise.all(readers.map((r) => r.stream));
    return await use({
      execId,
      stdout: stdout!,
      stderr,
      stdin,
      exited,
      async kill(ms) {
        await cri.containerd.tasks.kill({ containerId, execId, signal: SIGKILL, all: false }).catch((e) => {
          cri.log.debug("kill failed", { containerId, execId, error: errorMessage(e) });
        });
        await cri.containerd.tasks
          .wait({ containerId, execId }, { signal: AbortSignal.timeout(ms) })
          .catch(() => undefined);
      },
      closeStdin: async () => {
        await cri.containerd.tasks.closeIO({ containerId, execId, stdin: true });
      },
      resize: (size) =>
        cri.containerd.tasks.resizePty({ containerId, execId, width: size.width, height: size.height }),
      delete: deleteOnce,
    });
  } finally {
    stopWaiting.abort();
    for (const r of readers) r.cancel();
    stdin?.destroy();
    await deleteOnce();
    await removeFifoSet(fifos);
  }
}

async function deleteExec(cri: Cri, containerId: string, execId: string): Promise<void> {
  try {
    await cri.containerd.tasks.deleteProcess({ containerId, execId });
  } catch (err) {
    if (!isNotFound(err)) {
      cri.log.warn("cannot delete an exec process", { containerId, execId, error: errorMessage(err) });
    }
  }
}
