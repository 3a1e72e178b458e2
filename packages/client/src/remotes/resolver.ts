// Resolves image references to descriptors on a registry and fetches the blobs they
// lead to, through the endpoints (mirrors) the hosts config names, in order.

import type { Descriptor } from "@berth/api/containerd/types/descriptor";
import type { BlobStream } from "../content.js";
import { BerthError, errorKind, failedPrecondition, invalidArgument, notFound } from "../errdefs.js";
import { sha256Digest } from "../identity.js";
import { MANIFEST_ACCEPT, MediaType, isIndexType, isManifestType } from "../media-types.js";
import type { CredentialsHint, FetchFunction } from "./auth.js";
import { type HostCapability, hostsDirRegistryEndpoints } from "./hosts-dir.js";
import { type HostsConfig, type RegistryEndpoint, registryEndpoints } from "./hosts.js";
import { Pusher } from "./pusher.js";
import {
  type Reference,
  formatReference,
  parseReference,
  referenceName,
  referenceObject,
} from "./reference.js";
import { RegistryClient, discard, isAbort, statusError } from "./registry.js";

export interface ResolverOptions {
  hosts?: HostsConfig;
  /**
   * containerd's hosts directory (`<dir>/<host>/hosts.toml`, `_default`), read at each
   * pull. Only `hosts.auth` is used beside it: mirrors and plainHttp are refused.
   */
  hostsDir?: string;
  /** `--plain-http`: reach registries (and scheme-less mirrors) over http://. */
  plainHttp?: boolean;
  /** For tests and instrumentation; the global fetch otherwise. */
  fetch?: FetchFunction;
  userAgent?: string;
  /** Where the user gives credentials, for errors that ask for them (default: the hosts config). */
  credentialsHint?: CredentialsHint;
}

export interface ResolvedImage {
  reference: Reference;
  /** The normalised reference: the image's name in the image store. */
  name: string;
  /** What the reference points to: an index or a manifest. */
  descriptor: Descriptor;
}

/** Manifests larger than this are refused (containerd's limit). */
export const MAX_MANIFEST_BYTES = 4 * 1048 * 1048;

const DEFAULT_USER_AGENT = "berth/0.1";

function describeManifestType(contentType: string | null): string {
  return (contentType ?? "").split(";")[0]?.trim() ?? "";
}

const knownTopTypes = new Set<string>([
  MediaType.ociIndex,
  MediaType.ociManifest,
  MediaType.dockerManifestList,
  MediaType.dockerManifest,
]);

/** The media type of a manifest body whose Content-Type said nothing useful. */
export function sniffManifestType(body: Uint8Array): string {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(body).toString("utf8"));
  } catch {
    throw invalidArgument("the registry returned a manifest that is not JSON: check the reference");
  }
  const d = (typeof doc === "object" && doc !== null ? doc : {}) as Record<string, unknown>;
  if (typeof d.mediaType === "string" && d.mediaType !== "") return d.mediaType;
  if (d.schemaVersion === 1) return MediaType.dockerSchema1Manifest;
  if (Array.isArray(d.manifests)) return MediaType.ociIndex;
  if (typeof d.config === "object" && Array.isArray(d.layers)) return MediaType.ociManifest;
  throw invalidArgument("the registry returned a document that is neither an image index nor a manifest");
}

/** Registry access for one set of hosts settings. Holds tokens across calls. */
export class Resolver {
  readonly #hosts: HostsConfig;
  readonly #hostsDir: string | undefined;
  readonly #plainHttp: boolean;
  readonly #client: RegistryClient;

  constructor(options: ResolverOptions = {}) {
    this.#hosts = options.hosts ?? {};
    this.#hostsDir = options.hostsDir ?? this.#hosts.configPath;
    if (
      this.#hostsDir !== undefined &&
      (this.#hosts.mirrors !== undefined || this.#hosts.plainHttp !== undefined)
    ) {
      throw invalidArgument(
        `mirrors and plainHttp cannot be given with a hosts directory (${this.#hostsDir}): write them as [host."<url>"] sections and http:// URLs in its hosts.toml files, or drop the hosts directory`,
      );
    }
    this.#plainHttp = options.plainHttp ?? false;
    this.#client = new RegistryClient(
      options.fetch ?? globalThis.fetch,
      options.userAgent ?? DEFAULT_USER_AGENT,
      options.credentialsHint,
    );
  }

  /**
   * Where `ref`'s registry is reached, in order; with a hosts directory, read from it now.
   * `needs` keeps the endpoints allowed those operations (a push asks for ["push"]).
   */
  async endpoints(ref: Reference, needs: readonly HostCapability[] = []): Promise<RegistryEndpoint[]> {
    const all =
      this.#hostsDir !== undefined
        ? await hostsDirRegistryEndpoints(this.#hostsDir, ref.domain, {
            plainHttp: this.#plainHttp,
            ...(this.#hosts.auth !== undefined ? { auth: this.#hosts.auth } : {}),
          })
        : registryEndpoints(ref.domain, this.#hosts, { plainHttp: this.#plainHttp });
    return all.filter((e) => allows(e, needs));
  }

  async fetcher(ref: Reference): Promise<Fetcher> {
    return new Fetcher(this.#client, ref, await this.endpoints(ref));
  }

  /**
   * A pusher to the registry itself: mirrors serve pulls, pushes go upstream. With a hosts
   * directory, to its first host with the push capability (the server, unless a mirror
   * was given "push"), with that host's TLS settings and headers.
   */
  async pusher(ref: Reference): Promise<Pusher> {
    if (this.#hostsDir !== undefined) {
      const [endpoint] = await this.endpoints(ref, ["push"]);
      if (endpoint === undefined) {
        throw failedPrecondition(
          `no host for ${ref.domain} in ${this.#hostsDir} may be pushed to: give one capabilities = ["push"] in its hosts.toml`,
        );
      }
      return new Pusher(this.#client, ref, endpoint);
    }
    const { [ref.domain]: _, ...mirrors } = this.#hosts.mirrors ?? {};
    const hosts = { ...this.#hosts, mirrors };
    const [endpoint] = registryEndpoints(ref.domain, hosts, { plainHttp: this.#plainHttp });
    if (endpoint === undefined) throw invalidArgument(`no registry endpoint for ${ref.domain}`);
    return new Pusher(this.#client, ref, endpoint);
  }

  /** Finds what `ref` names: HEAD on its manifest (GET when the headers do not say enough). */
  async resolve(ref: string | Reference, signal?: AbortSignal): Promise<ResolvedImage> {
    const reference = typeof ref === "string" ? parseReference(ref) : ref;
    const fetcher = await this.fetcher(reference);
    const descriptor = await fetcher.resolve(signal);
    return { reference, name: formatReference(reference), descriptor };
  }
}

/** Fetches the blobs of one repository. */
export class Fetcher {
  readonly #client: RegistryClient;
  readonly #ref: Reference;
  readonly #endpoints: RegistryEndpoint[];
  readonly #repo: string;
  readonly #scopes: string[];

  constructor(client: RegistryClient, ref: Reference, endpoints: RegistryEndpoint[]) {
    this.#client = client;
    this.#ref = ref;
    this.#endpoints = endpoints;
    this.#repo = ref.path;
    this.#scopes = [`repository:${ref.path}:pull`];
  }

  /**
   * Tries each endpoint in order until one answers other than 404 or a connection
   * failure; `attempt` returns undefined for "not here". Errors name every endpoint
   * tried when several were.
   */
  async #tryEndpoints<T>(
    what: string,
    needs: readonly HostCapability[],
    attempt: (endpoint: RegistryEndpoint) => Promise<T | undefined>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    const failures: Array<{ endpoint: RegistryEndpoint; error: unknown }> = [];
    const endpoints = this.#endpoints.filter((e) => allows(e, needs));
    if (endpoints.length === 0) {
      const file = this.#endpoints[0]?.hostsFile;
      throw notFound(
        `${what}: no host of ${this.#ref.domain} may ${needs.join(" and ")}${file !== undefined ? ` (capabilities in ${file})` : ""}: add "${needs.join('", "')}" to a host's capabilities`,
      );
    }
    for (const endpoint of endpoints) {
      try {
        const result = await attempt(endpoint);
        if (result !== undefined) return result;
        failures.push({ endpoint, error: notFound(`${what} not found on registry ${endpoint.host}`) });
      } catch (err) {
        if (isAbort(err, signal)) throw err;
        // Another mirror may have it; authorization and protocol errors are final.
        const kind = errorKind(err);
        if (kind !== "Unavailable" && kind !== "NotFound") throw err;
        failures.push({ endpoint, error: err });
      }
    }
    const first = failures.find((f) => errorKind(f.error) !== "NotFound") ?? failures[0];
    if (first === undefined) throw notFound(`${what}: no registry endpoints`);
    const allMissing = failures.every((f) => errorKind(f.error) === "NotFound");
    if (failures.length === 1) {
      if (allMissing)
        throw notFound(`${what} not found on registry ${first.endpoint.host}: check the name and tag`);
      throw first.error;
    }
    // Endpoints failing alike (a server listed again as a host) are one failure, said in full.
    const messages = new Set(
      failures.map((f) => (f.error instanceof Error ? f.error.message : String(f.error))),
    );
    if (messages.size === 1 && !allMissing) throw first.error;
    const tried = failures.map((f) => `${f.endpoint.baseUrl}: ${firstClause(f.error)}`).join("; ");
    if (allMissing) throw notFound(`${what} not found on any endpoint (${tried}): check the name and tag`);
    const kind = errorKind(first.error);
    throw new BerthError(
      kind,
      `${what}: every endpoint failed (${tried}): check the mirrors in the hosts config`,
    );
  }

  async resolve(signal?: AbortSignal): Promise<Descriptor> {
    const object = referenceObject(this.#ref);
    const what = formatReference(this.#ref);
    // A tag is turned into a digest only by hosts trusted to (containerd's "resolve").
    const needs: HostCapability[] = this.#ref.digest !== undefined ? ["pull"] : ["pull", "resolve"];
    return this.#tryEndpoints(
      what,
      needs,
      async (endpoint) => {
        const path = `/${this.#repo}/manifests/${object}`;
        const base = {
          path,
          scopes: this.#scopes,
          namespace: this.#ref.domain,
          headers: { Accept: MANIFEST_ACCEPT },
        };
        const head = await this.#client.request(endpoint, { ...base, method: "HEAD", ...opt(signal) });
        await discard(head);
        if (head.status === 404) return undefined;
        let mediaType = describeManifestType(head.headers.get("content-type"));
        let digest = this.#ref.digest ?? head.headers.get("docker-content-digest") ?? "";
        const length = head.headers.get("content-length");
        let size = length !== null && /^\d+$/.test(length) ? Number(length) : -1;
        if (head.ok && digest !== "" && size >= 0 && knownTopTypes.has(mediaType)) {
          return { mediaType, digest, size, annotations: {} };
        }
        // Some registries answer HEAD poorly (no digest, no length, 405): ask for the body.
        const get = await this.#client.request(endpoint, { ...base, method: "GET", ...opt(signal) });
        if (get.status === 404) {
          await discard(get);
          return undefined;
        }
        if (!get.ok) {
          await discard(get);
          throw statusError(endpoint, get, what);
        }
        const body = await readLimited(get, MAX_MANIFEST_BYTES, what);
        mediaType = describeManifestType(get.headers.get("content-type"));
        if (!knownTopTypes.has(mediaType)) mediaType = sniffManifestType(body);
        const computed = sha256Digest(body);
        if (this.#ref.digest !== undefined && computed !== this.#ref.digest) {
          throw new BerthError(
            "DataLoss",
            `${what}: registry ${endpoint.host} served content with digest ${computed}`,
          );
        }
        digest = computed;
        size = body.length;
        return { mediaType, digest, size, annotations: {} };
      },
      signal,
    );
  }

  /**
   * Opens a blob (or manifest) for reading from `offset`, asking for a range; a registry
   * that ignores ranges serves it from 0, which the returned offset says.
   */
  async open(desc: Descriptor, options: { offset?: number; signal?: AbortSignal } = {}): Promise<BlobStream> {
    const { signal } = options;
    const offset = options.offset ?? 0;
    const manifest = isManifestType(desc.mediaType) || isIndexType(desc.mediaType);
    const what = `${manifest ? "manifest" : "blob"} ${desc.digest} of ${referenceName(this.#ref)}`;
    return this.#tryEndpoints(
      what,
      ["pull"],
      async (endpoint) => {
        const headers: Record<string, string> = {};
        if (manifest) headers.Accept = [desc.mediaType, MANIFEST_ACCEPT].join(", ");
        if (offset > 0) headers.Range = `bytes=${offset}-`;
        const path = `/${this.#repo}/${manifest ? "manifests" : "blobs"}/${desc.digest}`;
        const req = {
          method: "GET" as const,
          path,
          headers,
          scopes: this.#scopes,
          namespace: this.#ref.domain,
        };
        let res = await this.#client.request(endpoint, { ...req, ...opt(signal) });
        if (res.status === 416 && offset > 0) {
          // The range is past what the registry has: start over.
          await discard(res);
          const { Range: _, ...rest } = headers;
          res = await this.#client.request(endpoint, { ...req, headers: rest, ...opt(signal) });
        }
        if (res.status === 404) {
          await discard(res);
          return undefined;
        }
        if (!res.ok || res.body === null) {
          await discard(res);
          throw statusError(endpoint, res, what);
        }
        let start = 0;
        if (res.status === 206) {
          const m = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "");
          start = m?.[1] !== undefined ? Number(m[1]) : offset;
        }
        return { offset: start, body: res.body as AsyncIterable<Uint8Array> };
      },
      signal,
    );
  }

  /** Fetches a whole (small) blob into memory and checks its size and digest. */
  async fetchBytes(
    desc: Descriptor,
    options: { signal?: AbortSignal; maxBytes?: number } = {},
  ): Promise<Buffer> {
    const max = options.maxBytes ?? MAX_MANIFEST_BYTES;
    if (desc.size > max) {
      throw invalidArgument(
        `${desc.mediaType} ${desc.digest} is ${desc.size} bytes, more than the ${max} accepted`,
      );
    }
    const stream = await this.open(desc, opt(options.signal));
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of stream.body) {
      total += chunk.length;
      if (total > max)
        throw new BerthError(
          "DataLoss",
          `${desc.digest} from ${referenceName(this.#ref)} is larger than ${max} bytes`,
        );
      chunks.push(Buffer.from(chunk));
    }
    const data = Buffer.concat(chunks);
    const digest = sha256Digest(data);
    if (digest !== desc.digest || (desc.size > 0 && data.length !== desc.size)) {
      throw new BerthError(
        "DataLoss",
        `${desc.digest} from ${referenceName(this.#ref)} arrived as ${data.length} bytes with digest ${digest}: the registry serves corrupt content; retry, or check the mirror`,
      );
    }
    return data;
  }
}

/** Whether an endpoint may be used for every operation in `needs` (no capabilities listed: any). */
function allows(endpoint: RegistryEndpoint, needs: readonly HostCapability[]): boolean {
  return needs.every((c) => endpoint.capabilities?.includes(c) ?? true);
}

function opt(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal !== undefined ? { signal } : {};
}

async function readLimited(res: Response, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  if (res.body === null) return Buffer.alloc(0);
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > max) {
      await res.body.cancel().catch(() => undefined);
      throw invalidArgument(`${what}: the manifest is larger than ${max} bytes`);
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

function firstClause(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split(": ")[0] ?? msg;
}
