import { readFile } from "node:fs/promises";
import { join } from "node:path";

// OOM kills in cgroup v1 memory cgroups. cgroup.event_control with an eventfd is what
// upstream uses; from Node, polling the oom_kill counter of memory.oom_control once a
// second for running containers is far simpler and costs one small read per container.

/** The oom_kill counter of a memory.oom_control file's text (0 when absent). */
export function parseOomKills(text: string): number {
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m === null ? 0 : Number(m[1]);
}

interface Watched {
  dir: string;
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
    const kills = await readKills(memoryCgroupDir);
    if (kills === undefined) return;
    this.#watched.set(id, { dir: memoryCgroupDir, kills });
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
    const kills = await readKills(w.dir);
    if (kills === undefined || kills <= w.kills) return;
    w.kills = kills;
    if (this.#watched.get(id) === w) this.#onOom(id);
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#watched.clear();
  }
}

async function readKills(dir: string): Promise<number | undefined> {
  try {
    return parseOomKills(await readFile(join(dir, "memory.oom_control"), "utf8"));
  } catch {
    return undefined;
  }
}
