// Image references ("busybox", "127.0.0.1:5000/berth/test:multi", "name@sha256:…"),
// parsed and normalised like docker/containerd: `busybox` → `docker.io/library/busybox:latest`.

import { invalidArgument } from "../errdefs.js";

export const DEFAULT_DOMAIN = "docker.io";
export const DEFAULT_TAG = "latest";
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
const OFFICIAL_REPO_PREFIX = "library/";
const MAX_NAME_LENGTH = 255;

export interface Reference {
  /** Registry host, with port when given: "docker.io", "127.0.0.1:5000". */
  domain: string;
  /** Repository path inside the registry: "library/busybox". */
  path: string;
  tag?: string;
  /** "sha256:…"; when present it is what gets pulled (a tag beside it is dropped). */
  digest?: string;
}

const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const HEX_ID = /^[a-f0-9]{64}$/;

function invalid(ref: string, why: string): Error {
  return invalidArgument(`invalid image reference "${ref}": ${why}`);
}

function validateDigest(ref: string, digest: string): void {
  if (!DIGEST.test(digest)) throw invalid(ref, `malformed digest "${digest}"`);
  const [algorithm, hex = ""] = digest.split(":");
  const want = algorithm === "sha256" ? 64 : algorithm === "sha512" ? 128 : undefined;
  if (want === undefined) throw invalid(ref, `unsupported digest algorithm "${algorithm}"`);
  if (hex.length !== want || !/^[a-f0-9]+$/.test(hex)) {
    throw invalid(ref, `a ${algorithm} digest has ${want} lowercase hex digits`);
  }
}

/** Splits "host[:port]/path" from a bare "path", the way docker decides what is a registry host. */
function splitDomain(name: string): { domain: string; remainder: string } {
  const slash = name.indexOf("/");
  const first = slash < 0 ? "" : name.slice(0, slash);
  const looksLikeHost =
    slash >= 0 &&
    (first.includes(".") || first.includes(":") || first === "localhost" || first.toLowerCase() !== first);
  let domain = looksLikeHost ? first : DEFAULT_DOMAIN;
  let remainder = looksLikeHost ? name.slice(slash + 1) : name;
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes("/")) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return { domain, remainder };
}

/**
 * Parses and normalises a reference: the docker.io domain and `library/` prefix are
 * added, `latest` is the tag when neither tag nor digest is given, and a tag beside a
 * digest is dropped (the digest is what is pulled).
 */
export function parseReference(ref: string): Reference {
  const s = ref.trim();
  if (s === "") throw invalid(ref, "it is empty");
  if (HEX_ID.test(s)) throw invalid(ref, "a 64-character hex string is an ID, not a repository name");

  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    validateDigest(ref, digest);
  }
  const { domain, remainder } = splitDomain(rest);
  let path = remainder;
  let tag: string | undefined;
  const colon = remainder.lastIndexOf(":");
  if (colon >= 0) {
    tag = remainder.slice(colon + 1);
    path = remainder.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(ref, `invalid tag "${tag}"`);
  }
  if (path.toLowerCase() !== path) throw invalid(ref, "repository names must be lowercase");
  if (!DOMAIN.test(domain)) throw invalid(ref, `invalid registry host "${domain}"`);
  if (path === "" || !path.split("/").every((c) => PATH_COMPONENT.test(c))) {
    throw invalid(ref, `invalid repository name "${path}"`);
  }
  if (domain.length + 1 + path.length > MAX_NAME_LENGTH) {
    throw invalid(ref, `the name is longer than ${MAX_NAME_LENGTH} characters`);
  }
  if (digest !== undefined) return { domain, path, digest };
  return { domain, path, tag: tag ?? DEFAULT_TAG };
}

/** "docker.io/library/busybox" */
export function referenceName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** "docker.io/library/busybox:latest", or "…@sha256:…" for digest references. */
export function formatReference(ref: Reference): string {
  let s = referenceName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** What a registry's manifests endpoint is asked for: the digest when known, else the tag. */
export function referenceObject(ref: Reference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}

/** The registry hostname without port, as containerd names its distribution source labels. */
export function referenceHostname(ref: Reference): string {
  const d = ref.domain;
  if (d.startsWith("[")) return d.slice(1, d.indexOf("]"));
  const colon = d.lastIndexOf(":");
  return colon < 0 ? d : d.slice(0, colon);
}
