// The event exchange: services and shims publish envelopes; subscribers receive those
// matching their filters (containerd's syntax over topic, namespace and event fields).
import { type Filter, parseFilters } from "../filters/filters.js";

export interface EventEnvelope {
  timestamp: Date;
  namespace: string;
  topic: string;
  /** The event as a protobuf Any. */
  event: { typeUrl: string; value: Buffer };
}

const topicPattern = /^\/[A-Za-z0-9_\-./]+$/;

export function validTopic(topic: string): boolean {
  return topicPattern.test(topic) && !topic.includes("//") && !topic.endsWith("/");
}

type Listener = (e: EventEnvelope) => void;

export class EventExchange {
  private readonly listeners = new Set<{ filter: Filter; fn: Listener }>();

  publish(e: EventEnvelope): void {
    for (const l of this.listeners) {
      const match = l.filter.match((path) => {
        if (path.length !== 1) return undefined;
        if (path[0] === "topic") return e.topic;
        if (path[0] === "namespace") return e.namespace;
        return undefined;
      });
      if (match) l.fn(e);
    }
  }

  /** Yields matching envelopes until the signal aborts. */
  async *subscribe(filters: readonly string[], signal: AbortSignal): AsyncGenerator<EventEnvelope> {
    const filter = parseFilters(filters);
    const queue: EventEnvelope[] = [];
    let wake: (() => void) | null = null;
    const entry = {
      filter,
      fn: (e: EventEnvelope) => {
        queue.push(e);
        wake?.();
      },
    };
    this.listeners.add(entry);
    const onAbort = () => wake?.();
    signal.addEventListener("abort", onAbort);
    try {
      while (!signal.aborted) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        await new Promise<void>((r) => {
          wake = r;
        });
        wake = null;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.listeners.delete(entry);
    }
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }
}
