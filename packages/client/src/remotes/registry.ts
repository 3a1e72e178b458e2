// HTTP requests to one registry endpoint: authorization on 401, and failures turned into
// errors that say what went wrong and what to do next.

import { createHash } from "node:crypto";
import { BerthError, failedPrecondition, notFound, unavailable } from "../errdefs.js";
import {
  type CredentialsHint,
  type FetchFunction,
  RegistryAuthorizer,
  causeMessage,
  hostsConfigHint,
} from "./auth.js";
import type { EndpointTls, RegistryEndpoint } from "./hosts.js";
import { agentFetch, tlsAgent } from "./transport.js";

export interface RegistryRequest {
  method: "GET" | "HEAD" | "POST" | "PUT";
  /** Path under the endpoint's /v2 base: "/library/busybox/manifests/latest". */
  path: string;
  /** An absolute URL that replaces base and path (an upload's Location). */
  url?: string;
  /** The request body, made anew for each attempt (an authorization retry sends it again). */
  body?: () => Uint8Array | AsyncIterable<Uint8Array>;
  headers?: Record<string, string>;
  /** Token scopes the request needs: "repository:library/busybox:pull". */
  scopes: readonly string[];
  /** Added as `?ns=` for mirrors: the registry the mirror stands in for. */
  namespace?: string;
  signal?: AbortSignal;
}

const TLS_TO_PLAIN_CODES = new Set([
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "ERR_SSL_PACKET_LENGTH_TOO_LONG",
  "EPROTO",
]);
const UNTRUSTED_CERT_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);
/** The server wanted a client certificate and got none it accepts. */
const CLIENT_CERT_REJECTED =
  /CERTIFICATE_REQUIRED|ALERT_BAD_CERTIFICATE|ALERT_HANDSHAKE_FAILURE|ALERT_UNKNOWN_CA/;

function errorCode(err: unknown): string | undefined {
  const cause = err instanceof Error ? err.cause : undefined;
  const code = typeof cause === "object" && cause !== null && "code" in cause ? cause.code : undefined;
  return typeof code === "string" ? code : undefined;
}

/** Whether an error is the cancellation the caller asked for (to be rethrown untouched). */
export function isAbort(err: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || (err instanceof Error && err.name === "AbortError");
}

/** A failed connection to `endpoint`, explained. */
export function connectionError(endpoint: RegistryEndpoint, err: unknown): BerthError {
  const code = errorCode(err);
  const https = endpoint.baseUrl.startsWith("https:");
  const why = causeMessage(err);
  const file = endpoint.hostsFile;
  if (
    https &&
    (TLS_TO_PLAIN_CODES.has(code ?? "") || /wrong version number|packet length too long/.test(why))
  ) {
    if (file !== undefined) {
      return unavailable(
        `registry ${endpoint.host} answered with HTTP: write it as http://${endpoint.host} in ${file}`,
      );
    }
    return unavailable(
      `registry ${endpoint.host} answered with HTTP: use --plain-http or list it under plainHttp in the hosts config`,
    );
  }
  if (https && code !== undefined && UNTRUSTED_CERT_CODES.has(code) && file !== undefined) {
    return unavailable(
      `registry ${endpoint.host} presented a certificate that is not trusted (${code}): give the CA that signed it as ca = "<file>" in ${file}, or set skip_verify = true there (no verification)`,
    );
  }
  if (https && CLIENT_CERT_REJECTED.test(`${code ?? ""} ${why}`.toUpperCase().replace(/ /g, "_"))) {
    const where =
      file !== undefined
        ? `give one as client = [["cert.pem", "key.pem"]] in ${file}`
        : "give one in a hosts.toml (--hosts-dir, or registry.configPath in berth-cri's config)";
    return unavailable(
      `registry ${endpoint.host} refused the TLS connection: it requires a client certificate it trusts (${code ?? why}): ${where}`,
    );
  }
  if (https && code !== undefined && UNTRUSTED_CERT_CODES.has(code)) {
    return unavailable(
      `registry ${endpoint.host} presented a certificate this machine does not trust (${code}): add its CA with NODE_EXTRA_CA_CERTS, or reach it over HTTP with --plain-http`,
    );
  }
  if (code === "ECONNREFUSED") {
    return unavailable(
      `cannot connect to registry ${endpoint.host} (${endpoint.baseUrl}): connection refused: check that it is running and that the host and port are right`,
    );
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return unavailable(
      `cannot resolve the registry host ${endpoint.host}: check the name, or list a mirror for it`,
    );
  }
  return unavailable(
    `cannot reach registry ${endpoint.host} (${endpoint.baseUrl}): ${why}: check the network`,
  );
}

/** Speaks HTTP to registry endpoints, authorizing as each asks. Shared by every pull of a resolver. */
export class RegistryClient {
  readonly #fetch: FetchFunction;
  readonly #userAgent: string;
  readonly #auth: RegistryAuthorizer;

  readonly #where: CredentialsHint;
  /** Agents by TLS material, shared by the endpoints configured alike. */
  readonly #tlsFetches = new Map<string, FetchFunction>();

  constructor(fetchImpl: FetchFunction, userAgent: string, where: CredentialsHint = hostsConfigHint) {
    this.#fetch = fetchImpl;
    this.#userAgent = userAgent;
    this.#where = where;
    this.#auth = new RegistryAuthorizer(fetchImpl, userAgent, where);
  }

  /**
   * Sends a request, answering one authorization challenge (two when a held token was
   * refused). Network failures become errors naming the endpoint; HTTP statuses are
   * left to the caller, except 401/403 after authorizing.
   */
  async request(endpoint: RegistryEndpoint, req: RegistryRequest): Promise<Response> {
    let url = req.url ?? `${endpoint.baseUrl}${req.path}`;
    if (req.url === undefined && endpoint.mirror && req.namespace !== undefined)
      url += `?ns=${encodeURIComponent(req.namespace)}`;
    const fetchImpl =
      endpoint.tls !== undefined && url.startsWith("https:") ? this.#tlsFetch(endpoint.tls) : this.#fetch;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { "User-Agent": this.#userAgent };
      for (const [name, values] of Object.entries(endpoint.headers ?? {})) headers[name] = values.join(", ");
      Object.assign(headers, req.headers);
      const authorization = await this.#auth.authorization(
        endpoint.host,
        req.scopes,
        endpoint.credentials,
        req.signal,
        fetchImpl,
      );
      if (authorization !== undefined) headers.Authorization = authorization;
      let res: Response;
      try {
        res = await fetchImpl(url, {
          method: req.method,
          headers,
          redirect: "follow",
          ...(req.body !== undefined
            ? { body: req.body() as NonNullable<RequestInit["body"]>, duplex: "half" }
            : {}),
          ...(req.signal !== undefined ? { signal: req.signal } : {}),
        });
      } catch (err) {
        if (isAbort(err, req.signal)) throw err;
        throw connectionError(endpoint, err);
      }
      if (res.status === 401 && attempt < 2) {
        const learnt = this.#auth.addChallenge(
          endpoint.host,
          res.headers.get("www-authenticate"),
          req.scopes,
        );
        // A request running beside this one may have learnt the challenge first: one that
        // went without authorization tries again with it.
        const retry = learnt || (authorization === undefined && attempt === 0);
        if (retry) {
          await discard(res);
          continue;
        }
      }
      if (res.status === 401 || res.status === 403) {
        await discard(res);
        const repo = req.scopes.map((s) => s.split(":")[1]).join(", ");
        if (endpoint.credentials !== undefined) {
          throw failedPrecondition(
            `registry ${endpoint.host} refused access to ${repo} for "${endpoint.credentials.username}" (HTTP ${res.status}): check the repository name and the credentials (given ${this.#where(endpoint.host)})`,
          );
        }
        throw failedPrecondition(
          `registry ${endpoint.host} refused anonymous access to ${repo} (HTTP ${res.status}): check the repository name, or add credentials ${this.#where(endpoint.host)}`,
        );
      }
      if (res.status === 400 && req.method === "GET" && !endpoint.baseUrl.startsWith("https:")) {
        const text = await res.clone().text();
        if (/HTTP request to an HTTPS server/i.test(text)) {
          await discard(res);
          throw unavailable(
            endpoint.hostsFile !== undefined
              ? `registry ${endpoint.host} speaks HTTPS: write it as https://${endpoint.host} in ${endpoint.hostsFile}`
              : `registry ${endpoint.host} speaks HTTPS: drop --plain-http, or remove it from plainHttp in the hosts config`,
          );
        }
      }
      return res;
    }
  }

  #tlsFetch(tls: EndpointTls): FetchFunction {
    const hash = createHash("sha256");
    hash.update(tls.skipVerify === true ? "skip\0" : "verify\0");
    for (const ca of tls.ca ?? []) hash.update(ca).update("\0ca\0");
    for (const { cert, key } of tls.clientCertificates ?? []) hash.update(cert).update("\0").update(key);
    const key = hash.digest("hex");
    let f = this.#tlsFetches.get(key);
    if (f === undefined) {
      f = agentFetch(tlsAgent(tls));
      this.#tlsFetches.set(key, f);
    }
    return f;
  }
}

/** Reads and drops a response body so the connection can be reused. */
export async function discard(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // nothing to do: the connection is dropped instead
  }
}

/** An HTTP status that is not success, explained; `what` names the object asked for. */
export function statusError(endpoint: RegistryEndpoint, res: Response, what: string): BerthError {
  const s = res.status;
  if (s === 404) return notFound(`${what} not found on registry ${endpoint.host}`);
  if (s === 429) {
    return new BerthError(
      "ResourceExhausted",
      `registry ${endpoint.host} is rate-limiting requests (HTTP 429): wait and retry, or list a mirror for it`,
    );
  }
  if (s >= 500)
    return unavailable(`registry ${endpoint.host} failed with HTTP ${s} for ${what}: retry later`);
  return new BerthError(
    "Unknown",
    `registry ${endpoint.host} answered HTTP ${s} for ${what}: check the reference and the hosts config`,
  );
}
