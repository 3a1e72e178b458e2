// PullImage: pull through @berth/client (mirrors and plain-HTTP hosts from the config,
// credentials from the request), unpack into the configured snapshotter, then record the
// references containerd's CRI plugin records: the ID, the repo tag and the repo digest.

import type { Descriptor } from "@berth/api/containerd/types/descriptor";
import type { PullImageRequest, PullImageResponse } from "@berth/api/cri/runtime/v1/api";
import type { AuthConfig } from "@berth/api/cri/runtime/v1/api";
import {
  type CredentialsHint,
  type HostsConfig,
  type RegistryCredentials,
  Resolver,
  formatReference,
  invalidArgument,
  isAlreadyExists,
  parseReference,
  referenceName,
  registryEndpoints,
} from "@berth/client";
import type { Containerd } from "../containerd.js";
import type { Cri } from "../cri.js";
import { IMAGE_LABEL_KEY, IMAGE_LABEL_VALUE } from "./image-store.js";

export async function pullImage(
  cri: Cri,
  req: PullImageRequest,
  signal: AbortSignal,
): Promise<PullImageResponse> {
  const imageRef = req.image?.image ?? "";
  if (imageRef === "") throw invalidArgument("image must not be empty");
  let ref: ReturnType<typeof parseReference>;
  try {
    ref = parseReference(imageRef);
  } catch (err) {
    throw invalidArgument(`failed to parse image reference "${imageRef}": ${(err as Error).message}`);
  }
  const name = formatReference(ref);
  const hosts = hostsWithAuth(cri.config.registry, ref.domain, req.auth);
  const resolver =
    hosts === cri.config.registry
      ? cri.resolver
      : new Resolver({ hosts, credentialsHint: criCredentialsHint });
  const started = Date.now();
  const record = await cri.containerd.pull(name, {
    resolver,
    snapshotter: cri.config.containerd.snapshotter,
    labels: { [IMAGE_LABEL_KEY]: IMAGE_LABEL_VALUE },
    signal,
  });
  const target = record.target;
  if (target === undefined) throw invalidArgument(`the daemon recorded ${name} without a target`);
  cri.images.invalidate();
  const image = await cri.images.describeRecord(name, signal);
  if (image === undefined) throw invalidArgument(`${name} was pulled but has no manifest for this platform`);

  const repoTag = ref.tag !== undefined ? name : "";
  const repoDigest = ref.digest !== undefined ? name : `${referenceName(ref)}@${target.digest}`;
  for (const r of [image.id, repoTag, repoDigest]) {
    if (r !== "" && r !== name) await createReference(cri.containerd, r, target);
  }
  cri.images.invalidate();
  cri.log.info("image pulled", { image: name, id: image.id, ms: Date.now() - started });
  return { imageRef: image.id };
}

/** Creates or retargets an image record, marking it as managed by CRI. */
async function createReference(
  conn: Pick<Containerd, "images">,
  name: string,
  target: Descriptor,
): Promise<void> {
  const image = { name, target, labels: { [IMAGE_LABEL_KEY]: IMAGE_LABEL_VALUE } };
  try {
    await conn.images.create({ image });
    return;
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
  await conn.images.update({ image, updateMask: ["target", `labels.${IMAGE_LABEL_KEY}`] });
}

/** Decodes CRI credentials into a username and password (or identity token), as kubelet sends them. */
/** Where a kubelet user gives registry credentials, for errors that ask for them. */
export const criCredentialsHint: CredentialsHint = (host) =>
  `in the pull request's auth (a pod's imagePullSecrets), or under registry.auth."${host}" in berth-cri's config`;

export function parseAuth(auth: AuthConfig | undefined): RegistryCredentials | undefined {
  if (auth === undefined) return undefined;
  if (auth.username !== "") return { username: auth.username, password: auth.password };
  if (auth.identityToken !== "") return { username: "", password: auth.identityToken };
  if (auth.auth !== "") {
    const decoded = Buffer.from(auth.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0)
      throw invalidArgument("invalid auth in the pull request: expected base64 of user:password");
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1).replace(/\0+$/, "") };
  }
  return undefined;
}

/**
 * The configured hosts with the request's credentials added for the registry and each of
 * its endpoints (only those matching `server_address` when the request names one). The
 * config object itself when the request carries no credentials.
 */
export function hostsWithAuth(
  config: HostsConfig,
  registryHost: string,
  auth: AuthConfig | undefined,
): HostsConfig {
  const creds = parseAuth(auth);
  if (creds === undefined) return config;
  let serverHost: string | undefined;
  if (auth !== undefined && auth.serverAddress !== "") {
    const addr = auth.serverAddress;
    try {
      serverHost = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(addr) ? addr : `https://${addr}`).host;
    } catch {
      throw invalidArgument(`invalid server address "${addr}" in the pull request's auth`);
    }
  }
  // With a hosts directory the endpoints are read at pull time; credentials given for the
  // registry apply to every endpoint of it (and serverAddress may name one of them).
  const hosts =
    config.configPath !== undefined
      ? [registryHost, ...(serverHost !== undefined ? [serverHost] : [])]
      : [registryHost, ...registryEndpoints(registryHost, config).map((e) => e.host)];
  const extra: Record<string, RegistryCredentials> = {};
  for (const h of hosts) if (serverHost === undefined || serverHost === h) extra[h] = creds;
  return { ...config, auth: { ...(config.auth ?? {}), ...extra } };
}
