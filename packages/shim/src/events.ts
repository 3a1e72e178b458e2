import { type Envelope, EventsDefinition } from "@berth/api/containerd/services/ttrpc/events/v1/events";
import type { Any } from "@berth/api/google/protobuf/any";
import { TtrpcClient, type TtrpcServiceClient, createTtrpcClient, namespaceMetadata } from "@berth/ttrpc";

// Task events go to the daemon's ttrpc events service in the order they happened. When
// the daemon is away they wait in a bounded queue (oldest dropped first) and are retried
// with backoff, so the shim outlives a daemon restart without losing recent events.

export const Topics = {
  create: "/tasks/create",
  start: "/tasks/start",
  delete: "/tasks/delete",
  exit: "/tasks/exit",
  oom: "/tasks/oom",
  execAdded: "/tasks/exec-added",
  execStarted: "/tasks/exec-started",
  paused: "/tasks/paused",
  resumed: "/tasks/resumed",
} as const;

interface EventCodec<T> {
  encode(message: T): { finish(): Uint8Array };
  fromPartial(object: never): T;
}

/** Packs an event message as containerd does: type URL = the message's full proto name. */
export function packEvent<T>(name: string, codec: EventCodec<T>, value: T): Any {
  return { typeUrl: `containerd.events.${name}`, value: Buffer.from(codec.encode(value).finish()) };
}

export interface PublisherOptions {
  /** The daemon's ttrpc socket (TTRPC_ADDRESS); events are dropped when empty. */
  address: string;
  namespace: string;
  maxQueue?: number;
  /** Per-call timeout (default 5 s, as upstream). */
  timeoutMs?: number;
  onError?: (err: Error) => void;
}

type EventsClient = TtrpcServiceClient<typeof EventsDefinition>;

export class EventPublisher {
  readonly #options: Required<Omit<PublisherOptions, "onError">> & Pick<PublisherOptions, "onError">;
  readonly #queue: Envelope[] = [];
  #connection: { raw: TtrpcClient; events: EventsClient } | undefined;
  #draining = false;
  #idle: Array<() => void> = [];
  #closed = false;
  dropped = 0;

  constructor(options: PublisherOptions) {
    this.#options = { maxQueue: 2048, timeoutMs: 5_000, ...options };
  }

  get pending(): number {
    return this.#queue.length;
  }

  publish(topic: string, event: Any): void {
    if (this.#closed || this.#options.address === "") return;
    if (this.#queue.length >= this.#options.maxQueue) {
      this.#queue.shift();
      this.dropped++;
    }
    this.#queue.push({ timestamp: new Date(), namespace: this.#options.namespace, topic, event });
    if (!this.#draining) void this.#drain();
  }

  async #connect(): Promise<EventsClient> {
    const current = this.#connection;
    if (current !== undefined && !current.raw.isClosed) return current.events;
    const raw = await TtrpcClient.connect(this.#options.address);
    const events = createTtrpcClient(EventsDefinition, raw, {
      defaultMetadata: namespaceMetadata(this.#options.namespace),
    });
    this.#connection = { raw, events };
    return events;
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    let backoff = 100;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const envelope = this.#queue[0]!;
        try {
          const events = await this.#connect();
          await events.forward({ envelope }, { timeoutMs: this.#options.timeoutMs });
          if (this.#queue[0] === envelope) this.#queue.shift();
          backoff = 100;
        } catch (err) {
          this.#options.onError?.(err instanceof Error ? err : new Error(String(err)));
          this.#connection?.raw.close();
          this.#connection = undefined;
          await new Promise((resolve) => setTimeout(resolve, backoff));
          backoff = Math.min(backoff * 2, 5_000);
        }
      }
    } finally {
      this.#draining = false;
      for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  /** Resolves once every queued event was delivered, or after `timeoutMs`. */
  async flush(timeoutMs: number): Promise<void> {
    if (this.#queue.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.#idle.push(resolve)),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  close(): void {
    this.#closed = true;
    this.#connection?.raw.close();
    this.#connection = undefined;
  }
}
