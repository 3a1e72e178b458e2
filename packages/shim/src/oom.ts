import { closeSync, openSync, readSync } from "node:fs";
import { join } from "node:path";

// OOM kills in cgroup v1 memory cgroups. cgroup.event_control with an eventfd is what
// upstream uses; from Node, polling the oom_kill counter of memory.oom_control once a
// second for running containers is far simpler. Each container's file stays open and is
// read in place (one pread, no thread pool, no promise), so a shim serving dozens of idle
// containers spends next to nothing on it. A kill that ends the container is seen at its
// exit (remove), whatever the interval.

/** The oom_kill counter of a memory.oom_control file's text (0 when absent). */
export function parseOomKills(text: string): number {
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m === null ? 0 : Number(m[1]);
}

interface Watched {
  fd: number;
  kills: number;
}

export class OomWatcher {
  readonly #watched = new Map<string, Watched>();
  readonly #onOom: (id: string) => void;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #polling = false;

  constructor(onOom: (id: string) => void, intervalMs = 1_000) {
    this.#onOom = onOom;
    this.#intervalMs = intervalMs;
  }

  async add(id: string, memoryCgroupDir: string): Promise<void> {
    let fd: number;
    try {
      fd = openSync(join(memoryCgroupDir, "memory.oom_control"), "r");
    } catch {
      return; // no memory cgroup to watch
    }
    const kills = readKills(fd);
    if (kills === undefined) {
      closeSync(fd);
      return;
    }
    const old = this.#watched.get(id);
    if (old !== undefined) closeSync(old.fd);
    // Counted from 0: the container's cgroup is its own and new at start, and a process
    // killed between runc start and this call has already raised the counter.
    this.#watched.set(id, { fd, kills: 0 });
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => void this.poll(), this.#intervalMs);
      this.#timer.unref();
    }
  }

  /** Stops watching; when the container died of an OOM kill just before, the event is still sent. */
  async remove(id: string): Promise<void> {
    const w = this.#watched.get(id);
    if (w === undefined) return;
    await this.#check(id, w);
    this.#watched.delete(id);
    closeSync(w.fd);
    if (this.#watched.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  async poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      for (const [id, w] of this.#watched) await this.#check(id, w);
    } finally {
      this.#polling = false;
    }
  }

  async #check(id: string, w: Watched): Promise<void> {
    const kills = readKills(w.fd);
    if (kills === undefined || kills <= w.kills) return;
    w.kills = kills;
    if (this.#watched.get(id) === w) this.#onOom(id);
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const w of this.#watched.values()) closeSync(w.fd);
    this.#watched.clear();
  }
}

const buffer = Buffer.alloc(256);

/** The counter from an open memory.oom_control, read from its start; undefined when gone. */
function readKills(fd: number): number | undefined {
  try {
    const n = readSync(fd, buffer, 0, buffer.length, 0);
    return parseOomKills(buffer.toString("utf8", 0, n));
  } catch {
    return undefined;
  }
}
