// Fan-out of CRI container events (created, started, stopped, deleted) to every
// GetContainerEvents stream. A subscriber that falls far behind loses its oldest events
// rather than growing berth-cri's memory without bound.

import type { ContainerEventResponse } from "@berth/api/cri/runtime/v1/api";

const MAX_QUEUED = 1000;

interface Subscriber {
  queue: ContainerEventResponse[];
  wake: (() => void) | undefined;
}

export class ContainerEvents {
  readonly #subscribers = new Set<Subscriber>();

  publish(event: ContainerEventResponse): void {
    for (const s of this.#subscribers) {
      s.queue.push(event);
      if (s.queue.length > MAX_QUEUED) s.queue.shift();
      s.wake?.();
    }
  }

  /** Events from now on, until `signal` aborts. */
  async *subscribe(signal: AbortSignal): AsyncGenerator<ContainerEventResponse> {
    const sub: Subscriber = { queue: [], wake: undefined };
    this.#subscribers.add(sub);
    const onAbort = () => sub.wake?.();
    signal.addEventListener("abort", onAbort);
    try {
      while (!signal.aborted) {
        const next = sub.queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        await new Promise<void>((resolve) => {
          sub.wake = resolve;
        });
        sub.wake = undefined;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.#subscribers.delete(sub);
    }
  }

  get subscribers(): number {
    return this.#subscribers.size;
  }
}
