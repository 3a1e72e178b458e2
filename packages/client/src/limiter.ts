/** Runs at most `limit` tasks at once; the rest wait their turn in order. */
export class Limiter {
  #running = 0;
  readonly #queue: Array<() => void> = [];
  constructor(readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.limit) await new Promise<void>((resolve) => this.#queue.push(resolve));
    this.#running++;
    try {
      return await task();
    } finally {
      this.#running--;
      this.#queue.shift()?.();
    }
  }
}

/** `fn` over every item, `limit` at a time; settles once all have (failures do not stop the rest). */
export async function eachLimited<T>(
  items: Iterable<T>,
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<PromiseSettledResult<void>[]> {
  const limiter = new Limiter(Math.max(1, limit));
  return Promise.allSettled([...items].map((item) => limiter.run(() => fn(item))));
}
