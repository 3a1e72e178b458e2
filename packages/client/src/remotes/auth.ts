// Registry authorization: `WWW-Authenticate` challenges, anonymous or credentialed
// bearer tokens from the realm they name, and basic auth.

import { failedPrecondition, unavailable } from "../errdefs.js";
import type { RegistryCredentials } from "./hosts.js";

export interface AuthChallenge {
  /** Lower-case scheme: "bearer", "basic". */
  scheme: string;
  /** Lower-case parameter names: realm, service, scope, error… */
  params: Record<string, string>;
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;
const TOKEN68 = /[A-Za-z0-9._~+/:-]+=*/y;

/**
 * Parses a `WWW-Authenticate` header value into its challenges:
 * `Bearer realm="https://auth.example/token",service="registry",scope="repository:x:pull"`.
 * A header may hold several challenges, separated like their parameters by commas.
 */
export function parseWwwAuthenticate(header: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  let current: AuthChallenge | undefined;
  let i = 0;
  const skip = (chars: string) => {
    while (i < header.length && chars.includes(header[i] ?? "")) i++;
  };
  const match = (re: RegExp): string | undefined => {
    re.lastIndex = i;
    const m = re.exec(header);
    if (m === null) return undefined;
    i = re.lastIndex;
    return m[0];
  };
  while (i < header.length) {
    skip(" \t,");
    if (i >= header.length) break;
    const start = i;
    const token = match(TOKEN);
    if (token === undefined) {
      i++; // not a token character: skip it rather than give up on the rest
      continue;
    }
    skip(" \t");
    if (header[i] === "=" && current !== undefined && header[i + 1] !== "=") {
      i++;
      skip(" \t");
      let value: string;
      if (header[i] === '"') {
        i++;
        value = "";
        while (i < header.length && header[i] !== '"') {
          if (header[i] === "\\" && i + 1 < header.length) i++;
          value += header[i];
          i++;
        }
        i++; // closing quote
      } else {
        value = match(TOKEN68) ?? match(TOKEN) ?? "";
      }
      current.params[token.toLowerCase()] = value;
      continue;
    }
    // Not a parameter: a scheme, starting a new challenge.
    i = start + token.length;
    current = { scheme: token.toLowerCase(), params: {} };
    out.push(current);
  }
  return out;
}

export function basicAuthorization(creds: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export type FetchFunction = typeof globalThis.fetch;

/** Tokens live this long when the token server does not say (the distribution spec's default). */
const DEFAULT_TOKEN_SECONDS = 60;

/**
 * Remembers, per endpoint host, how the registry asked to be authorized and the tokens
 * obtained for each scope, so later requests are authorized up front.
 */
/** Where a user gives credentials for `host`, as a phrase: "under auth.… in the hosts config". */
export type CredentialsHint = (host: string) => string;

export const hostsConfigHint: CredentialsHint = (host) => `under auth."${host}" in the hosts config`;

export class RegistryAuthorizer {
  readonly #fetch: FetchFunction;
  readonly #userAgent: string;
  readonly #challenges = new Map<string, AuthChallenge>();
  readonly #tokens = new Map<string, CachedToken>();
  readonly #pending = new Map<string, Promise<CachedToken>>();

  readonly #where: CredentialsHint;

  constructor(fetchImpl: FetchFunction, userAgent: string, where: CredentialsHint = hostsConfigHint) {
    this.#fetch = fetchImpl;
    this.#userAgent = userAgent;
    this.#where = where;
  }

  /** The Authorization header for a request to `host` within `scopes`, if the host asked for one. */
  async authorization(
    host: string,
    scopes: readonly string[],
    creds: RegistryCredentials | undefined,
    signal?: AbortSignal,
    /** How the token server is reached: the endpoint's own HTTPS settings (hosts.toml), if any. */
    fetchImpl?: FetchFunction,
  ): Promise<string | undefined> {
    const challenge = this.#challenges.get(host);
    if (challenge === undefined) return undefined;
    if (challenge.scheme === "basic") {
      if (creds === undefined) {
        throw failedPrecondition(
          `registry ${host} requires a username and password: add them ${this.#where(host)}`,
        );
      }
      return basicAuthorization(creds);
    }
    const token = await this.#token(host, challenge, scopes, creds, signal, fetchImpl ?? this.#fetch);
    return `Bearer ${token.token}`;
  }

  /**
   * Records the challenge of a 401 answer. Returns whether retrying with new
   * authorization can help (false when the same challenge was already answered).
   */
  addChallenge(host: string, header: string | null, scopes: readonly string[]): boolean {
    const challenges = parseWwwAuthenticate(header ?? "");
    const next =
      challenges.find((c) => c.scheme === "bearer") ?? challenges.find((c) => c.scheme === "basic");
    if (next === undefined) return false;
    const previous = this.#challenges.get(host);
    this.#challenges.set(host, next);
    if (previous === undefined || previous.scheme !== next.scheme) return true;
    if (next.scheme === "bearer") {
      // A token we hold was refused (expired, or a scope was missing): fetch a fresh one once.
      const key = this.#tokenKey(host, next, scopes);
      return this.#tokens.delete(key);
    }
    return false;
  }

  #tokenKey(host: string, challenge: AuthChallenge, scopes: readonly string[]): string {
    return `${host}\n${challenge.params.realm ?? ""}\n${tokenScopes(challenge, scopes).join(" ")}`;
  }

  async #token(
    host: string,
    challenge: AuthChallenge,
    scopes: readonly string[],
    creds: RegistryCredentials | undefined,
    signal: AbortSignal | undefined,
    fetchImpl: FetchFunction,
  ): Promise<CachedToken> {
    const key = this.#tokenKey(host, challenge, scopes);
    const cached = this.#tokens.get(key);
    if (cached !== undefined && cached.expiresAt > Date.now()) return cached;
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      pending = this.#fetchToken(host, challenge, tokenScopes(challenge, scopes), creds, signal, fetchImpl);
      this.#pending.set(key, pending);
      pending.then(
        (t) => this.#tokens.set(key, t),
        () => undefined,
      );
      pending.finally(() => this.#pending.delete(key)).catch(() => undefined);
    }
    return pending;
  }

  async #fetchToken(
    host: string,
    challenge: AuthChallenge,
    scopes: readonly string[],
    creds: RegistryCredentials | undefined,
    signal: AbortSignal | undefined,
    fetchImpl: FetchFunction,
  ): Promise<CachedToken> {
    const realm = challenge.params.realm;
    if (realm === undefined || realm === "") {
      throw failedPrecondition(
        `registry ${host} asked for a bearer token but named no realm: check the registry`,
      );
    }
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw failedPrecondition(
        `registry ${host} named an invalid token realm "${realm}": check the registry`,
      );
    }
    if (challenge.params.service !== undefined) url.searchParams.set("service", challenge.params.service);
    for (const scope of scopes) url.searchParams.append("scope", scope);
    const headers: Record<string, string> = { "User-Agent": this.#userAgent, Accept: "application/json" };
    if (creds !== undefined) headers.Authorization = basicAuthorization(creds);
    let res: Response;
    try {
      res = await fetchImpl(url, { headers, ...(signal !== undefined ? { signal } : {}) });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw unavailable(
        `cannot get a token for registry ${host} from ${url.origin}: ${causeMessage(err)}: check that the token server is reachable`,
      );
    }
    const text = await res.text();
    if (res.status === 401 || res.status === 403) {
      throw failedPrecondition(
        creds !== undefined
          ? `the token server of registry ${host} rejected the credentials of "${creds.username}": check them (given ${this.#where(host)})`
          : `registry ${host} does not allow anonymous pulls of ${scopes.join(" ")}: add credentials ${this.#where(host)}`,
      );
    }
    if (!res.ok) {
      throw unavailable(`the token server of registry ${host} answered HTTP ${res.status}: retry later`);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw unavailable(
        `the token server of registry ${host} did not answer JSON: check the realm ${url.origin}`,
      );
    }
    const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
    const token = typeof b.token === "string" && b.token !== "" ? b.token : b.access_token;
    if (typeof token !== "string" || token === "") {
      throw unavailable(
        `the token server of registry ${host} answered without a token: check the realm ${url.origin}`,
      );
    }
    const seconds =
      typeof b.expires_in === "number" && b.expires_in > 0 ? b.expires_in : DEFAULT_TOKEN_SECONDS;
    // Renew a little early so a token does not expire between use and arrival.
    return { token, expiresAt: Date.now() + Math.max(1, seconds - 5) * 1000 };
  }
}

/** The scopes a token is requested for: the challenge's own plus the ones the request needs. */
function tokenScopes(challenge: AuthChallenge, scopes: readonly string[]): string[] {
  const all = new Set<string>();
  for (const s of (challenge.params.scope ?? "").split(" ")) if (s !== "") all.add(s);
  for (const s of scopes) all.add(s);
  return [...all].sort();
}

/** The message of a failed fetch, with its cause (undici puts the useful part there). */
export function causeMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause;
    if (cause instanceof Error && cause.message !== "") return cause.message;
    return err.message;
  }
  return String(err);
}
