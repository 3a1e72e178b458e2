// HTTPS with an endpoint's own TLS settings (hosts.toml `ca`, `client`, `skip_verify`),
// as a fetch-shaped function over node:https, so the registry client treats it like the
// global fetch. Endpoints without such settings keep the global fetch.

import type { IncomingMessage } from "node:http";
import { Agent, request } from "node:https";
import { Readable } from "node:stream";
import { rootCertificates } from "node:tls";
import type { FetchFunction } from "./auth.js";
import type { EndpointTls } from "./hosts.js";

const MAX_REDIRECTS = 10;
const IDLE_TIMEOUT_MS = 300_000;

/** An agent trusting the system's roots plus `tls.ca`, presenting `tls.clientCertificates`. */
export function tlsAgent(tls: EndpointTls): Agent {
  const first = tls.clientCertificates?.[0];
  return new Agent({
    keepAlive: true,
    maxSockets: 16,
    ...(tls.ca !== undefined ? { ca: [...rootCertificates, ...tls.ca.map((b) => b.toString("utf8"))] } : {}),
    // Node presents one certificate; the first pair is it (containerd offers all, Go picks the first
    // that fits the server's request, which for one pair is the same).
    ...(first !== undefined ? { cert: first.cert, key: first.key } : {}),
    rejectUnauthorized: tls.skipVerify !== true,
  });
}

function headersOf(res: IncomingMessage): Headers {
  const h = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) h.append(name, v);
  }
  return h;
}

/** Sends one request; resolves on the response headers. Network errors carry their cause, as fetch's do. */
function send(
  agent: Agent,
  url: URL,
  method: string,
  headers: Record<string, string>,
  signal: AbortSignal | undefined,
  body?: Uint8Array | AsyncIterable<Uint8Array>,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method, headers, agent, ...(signal !== undefined ? { signal } : {}) },
      resolve,
    );
    // As fetch's headers and body timeouts: a registry silent this long is given up on.
    req.setTimeout(IDLE_TIMEOUT_MS, () => {
      const err = Object.assign(new Error(`no data from ${url.host} for ${IDLE_TIMEOUT_MS / 1000} s`), {
        code: "ETIMEDOUT",
      });
      req.destroy(err);
    });
    req.on("error", (err) => {
      if (err.name === "AbortError") reject(err);
      else reject(new TypeError("fetch failed", { cause: err }));
    });
    if (body === undefined) req.end();
    else if (body instanceof Uint8Array) req.end(body);
    else
      Readable.from(body)
        .on("error", (err) => req.destroy(err))
        .pipe(req);
  });
}

/**
 * A fetch for https:// URLs through `agent`, following redirects (an Authorization header
 * is not carried to another host, as fetch does not). A request body (a Uint8Array or an
 * async iterable of them, as the registry client sends) is sent once: a redirect of a
 * request with a body is returned to the caller, not followed.
 */
export function agentFetch(agent: Agent): FetchFunction {
  const fetchThrough = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    let url = new URL(input instanceof Request ? input.url : String(input));
    const method = init?.method ?? "GET";
    let headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => {
      headers[k] = v;
    });
    const signal = init?.signal ?? undefined;
    const requestBody = (init?.body ?? undefined) as Uint8Array | AsyncIterable<Uint8Array> | undefined;
    for (let redirects = 0; ; redirects++) {
      if (url.protocol !== "https:") {
        // A redirect off TLS (e.g. to plain-HTTP storage) leaves this endpoint's settings behind.
        return globalThis.fetch(url, { ...init, headers });
      }
      const res = await send(agent, url, method, headers, signal, requestBody);
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      const followable = requestBody === undefined;
      if (
        followable &&
        [301, 302, 303, 307, 308].includes(status) &&
        location !== undefined &&
        redirects < MAX_REDIRECTS
      ) {
        res.resume();
        const next = new URL(location, url);
        if (next.host !== url.host) {
          const { authorization: _, ...rest } = headers;
          headers = rest;
        }
        url = next;
        continue;
      }
      const noBody = method === "HEAD" || status === 204 || status === 304;
      if (noBody) res.resume();
      const body = noBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
      return new Response(body, { status, statusText: res.statusMessage ?? "", headers: headersOf(res) });
    }
  };
  return fetchThrough as FetchFunction;
}
