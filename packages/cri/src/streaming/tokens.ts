// Single-use tokens for the streaming URLs. Exec, Attach and PortForward keep the request
// under a random token; the streaming server takes it out once. A token not used within
// the TTL is gone, and only so many may wait at once, so a caller that never connects
// cannot grow the cache without bound.

import { randomBytes } from "node:crypto";
import { BerthError } from "@berth/client";

export interface TokenCacheOptions {
  ttlMs?: number;
  maxInFlight?: number;
}

/** kubelet's values: a minute to connect, at most 1000 requests waiting. */
const DEFAULT_TTL_MS = 60_000;
const DEFAULT_MAX_IN_FLIGHT = 1000;

export class TokenCache<T> {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #entries = new Map<string, { value: T; expires: number }>();

  constructor(options: TokenCacheOptions = {}) {
    this.#ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
    this.#max = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Stores `value` and returns its token (URL-safe). */
  insert(value: T, now = Date.now()): string {
    if (this.#entries.size >= this.#max) this.#evictExpired(now);
    if (this.#entries.size >= this.#max) {
      throw new BerthError(
        "ResourceExhausted",
        `too many streaming requests waiting for a connection (at most ${this.#max})`,
      );
    }
    const token = randomBytes(18).toString("base64url");
    this.#entries.set(token, { value, expires: now + this.#ttlMs });
    return token;
  }

  /** The value of a live token, which is used up; undefined for unknown, used or expired ones. */
  consume(token: string, now = Date.now()): T | undefined {
    const entry = this.#entries.get(token);
    if (entry === undefined) return undefined;
    this.#entries.delete(token);
    return entry.expires > now ? entry.value : undefined;
  }

  #evictExpired(now: number): void {
    for (const [token, entry] of this.#entries) if (entry.expires <= now) this.#entries.delete(token);
  }
}
