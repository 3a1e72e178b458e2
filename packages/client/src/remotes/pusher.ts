// Pushes blobs and manifests to one repository on its registry, the way the distribution
// API wants them: HEAD to skip what is there, POST for an upload, PUT with the digest.

import type { Descriptor } from "@berth/api/containerd/types/descriptor";
import { BerthError } from "../errdefs.js";
import { isIndexType, isManifestType } from "../media-types.js";
import type { RegistryEndpoint } from "./hosts.js";
import { type Reference, referenceName } from "./reference.js";
import { type RegistryClient, type RegistryRequest, discard, statusError } from "./registry.js";

export interface PushBlobOptions {
  signal?: AbortSignal;
}

export class Pusher {
  readonly #client: RegistryClient;
  readonly #ref: Reference;
  readonly #endpoint: RegistryEndpoint;
  readonly #scopes: string[];

  constructor(client: RegistryClient, ref: Reference, endpoint: RegistryEndpoint) {
    this.#client = client;
    this.#ref = ref;
    this.#endpoint = endpoint;
    this.#scopes = [`repository:${ref.path}:pull,push`];
  }

  get host(): string {
    return this.#endpoint.host;
  }

  /** Whether the repository already has the blob or manifest. */
  async exists(desc: Descriptor, options: PushBlobOptions = {}): Promise<boolean> {
    const manifest = isManifestType(desc.mediaType) || isIndexType(desc.mediaType);
    const res = await this.#request({
      method: "HEAD",
      path: `/${this.#ref.path}/${manifest ? "manifests" : "blobs"}/${desc.digest}`,
      headers: manifest ? { Accept: desc.mediaType } : {},
      ...opt(options.signal),
    });
    await discard(res);
    if (res.status === 404) return false;
    if (res.ok) return true;
    throw statusError(this.#endpoint, res, `${desc.digest} of ${referenceName(this.#ref)}`);
  }

  /** Uploads a blob in one PUT; `body` is opened once per attempt. */
  async pushBlob(
    desc: Descriptor,
    body: () => AsyncIterable<Uint8Array>,
    options: PushBlobOptions = {},
  ): Promise<void> {
    const what = `blob ${desc.digest} to ${referenceName(this.#ref)}`;
    const start = await this.#request({
      method: "POST",
      path: `/${this.#ref.path}/blobs/uploads/`,
      headers: { "Content-Length": "0" },
      ...opt(options.signal),
    });
    await discard(start);
    // 201: the registry mounted or already had it.
    if (start.status === 201) return;
    const location = start.headers.get("location");
    if (start.status !== 202 || location === null) {
      throw statusError(this.#endpoint, start, `upload of ${what}`);
    }
    const url = new URL(location, `${this.#endpoint.baseUrl}/`);
    url.searchParams.set("digest", desc.digest);
    const put = await this.#request({
      method: "PUT",
      path: "",
      url: url.toString(),
      headers: { "Content-Type": "application/octet-stream", "Content-Length": String(desc.size) },
      body,
      ...opt(options.signal),
    });
    await this.#expectCreated(put, what);
  }

  /** Puts a manifest or index under `tag` (or its digest when no tag is given). */
  async pushManifest(
    desc: Descriptor,
    data: Uint8Array,
    tag: string | undefined,
    options: PushBlobOptions = {},
  ): Promise<void> {
    const res = await this.#request({
      method: "PUT",
      path: `/${this.#ref.path}/manifests/${tag ?? desc.digest}`,
      headers: { "Content-Type": desc.mediaType },
      body: () => data,
      ...opt(options.signal),
    });
    await this.#expectCreated(res, `manifest ${desc.digest} to ${referenceName(this.#ref)}`);
  }

  async #expectCreated(res: Response, what: string): Promise<void> {
    if (res.status === 201 || res.status === 204 || res.status === 200) {
      await discard(res);
      return;
    }
    const text = await res.text().catch(() => "");
    const detail = registryErrorText(text);
    if (res.status === 400 || res.status === 404) {
      throw new BerthError(
        "FailedPrecondition",
        `registry ${this.#endpoint.host} refused the ${what} (HTTP ${res.status}${detail !== "" ? `: ${detail}` : ""}): check that the content is complete (berthctl images export shows what is missing)`,
      );
    }
    throw statusError(this.#endpoint, res, what);
  }

  #request(req: Omit<RegistryRequest, "scopes">): Promise<Response> {
    return this.#client.request(this.#endpoint, {
      ...req,
      scopes: this.#scopes,
      namespace: this.#ref.domain,
    });
  }
}

/** The messages of a distribution API error body ({"errors":[{"code","message"}]}). */
function registryErrorText(text: string): string {
  try {
    const doc = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
    return (doc.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(" ")).join("; ");
  } catch {
    return "";
  }
}

function opt(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal !== undefined ? { signal } : {};
}
