// Where the registry of a reference is reached: mirrors, plain-HTTP hosts and credentials.
//
// The same shape as berth-cri's `registry` config section, so it can be passed on as is:
//
//   mirrors:                      # registry host → endpoints, tried in order; when a
//     docker.io:                  # list is given the registry itself is NOT tried
//       - http://127.0.0.1:5000
//   plainHttp: [127.0.0.1:5000]   # hosts spoken to over http:// instead of https://
//   auth:                         # basic credentials per endpoint (or registry) host
//     127.0.0.1:5000: { username: me, password: secret }

import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { errorMessage, invalidArgument } from "../errdefs.js";

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface HostsConfig {
  /** Registry host ("docker.io", "gcr.io", "127.0.0.1:5000") → endpoint URLs, tried in order. */
  mirrors?: Record<string, string[]>;
  /** Hosts ("127.0.0.1:5000") reached over plain HTTP when an endpoint names no scheme. */
  plainHttp?: string[];
  /** Basic credentials per endpoint host, or per registry host. */
  auth?: Record<string, RegistryCredentials>;
  /**
   * containerd's hosts directory (`<dir>/<host>/hosts.toml`) in place of mirrors and
   * plainHttp, which cannot be given with it.
   */
  configPath?: string;
}

/** One place a repository's content can be fetched from. */
export interface RegistryEndpoint {
  /** "127.0.0.1:5000": what credentials are looked up by and errors name. */
  host: string;
  /** Base of the API: "http://127.0.0.1:5000/v2". */
  baseUrl: string;
  /** A mirror of another registry: requests carry `?ns=<registry host>`. */
  mirror: boolean;
  credentials?: RegistryCredentials;
  /** What the endpoint may be used for (hosts.toml `capabilities`); undefined: everything. */
  capabilities?: ReadonlyArray<"pull" | "resolve" | "push">;
  /** Extra request headers (hosts.toml `header`). */
  headers?: Record<string, string[]>;
  /** CA, client certificates and verification for https:// endpoints (hosts.toml). */
  tls?: EndpointTls;
  /** The hosts.toml this endpoint comes from (or would be configured in), for errors. */
  hostsFile?: string;
}

/** TLS material of an endpoint, read from its files. */
export interface EndpointTls {
  /** PEM CA certificates trusted besides the system's roots. */
  ca?: Buffer[];
  clientCertificates?: Array<{ cert: Buffer; key: Buffer }>;
  skipVerify?: boolean;
  /** The file that configured it. */
  source: string;
}

/** docker.io is served from this host. */
export const DOCKER_HUB_HOST = "registry-1.docker.io";

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Validates a parsed config (e.g. a YAML document); `source` names it in errors. */
export function validateHostsConfig(value: unknown, source = "hosts config"): HostsConfig {
  const fail = (what: string) => invalidArgument(`${source}: ${what}`);
  if (value === null || value === undefined) return {};
  if (!isRecord(value)) throw fail("must be a mapping with keys mirrors, plainHttp, auth");
  const config: HostsConfig = {};
  for (const key of Object.keys(value)) {
    if (key !== "mirrors" && key !== "plainHttp" && key !== "auth" && key !== "configPath") {
      throw fail(`unknown key "${key}": the keys are configPath, mirrors, plainHttp and auth`);
    }
  }
  if (value.configPath !== undefined && value.configPath !== null) {
    if (typeof value.configPath !== "string" || !value.configPath.startsWith("/")) {
      throw fail("configPath must be the absolute path of a hosts directory, e.g. /etc/containerd/certs.d");
    }
    for (const other of ["mirrors", "plainHttp"]) {
      if (value[other] !== undefined && value[other] !== null) {
        throw fail(
          `configPath and ${other} cannot both be given: write the ${other === "mirrors" ? 'mirrors as [host."<url>"] sections' : 'plain-HTTP hosts as server = "http://…"'} in ${value.configPath}/<host>/hosts.toml, or drop configPath`,
        );
      }
    }
    config.configPath = value.configPath;
  }
  if (value.mirrors !== undefined && value.mirrors !== null) {
    if (!isRecord(value.mirrors)) throw fail("mirrors must map a registry host to a list of endpoint URLs");
    const mirrors: Record<string, string[]> = {};
    for (const [host, list] of Object.entries(value.mirrors)) {
      if (!Array.isArray(list) || !list.every((u) => typeof u === "string")) {
        throw fail(`mirrors.${host} must be a list of endpoint URLs, e.g. ["http://127.0.0.1:5000"]`);
      }
      for (const u of list) parseEndpointUrl(u, false, `${source}: mirrors.${host}`);
      mirrors[host] = [...list];
    }
    config.mirrors = mirrors;
  }
  if (value.plainHttp !== undefined && value.plainHttp !== null) {
    const list = value.plainHttp;
    if (!Array.isArray(list) || !list.every((h) => typeof h === "string")) {
      throw fail('plainHttp must be a list of hosts, e.g. ["127.0.0.1:5000"]');
    }
    config.plainHttp = [...list];
  }
  if (value.auth !== undefined && value.auth !== null) {
    if (!isRecord(value.auth)) throw fail("auth must map a host to { username, password }");
    const auth: Record<string, RegistryCredentials> = {};
    for (const [host, creds] of Object.entries(value.auth)) {
      if (!isRecord(creds) || typeof creds.username !== "string" || typeof creds.password !== "string") {
        throw fail(`auth.${host} must have a string username and password`);
      }
      auth[host] = { username: creds.username, password: creds.password };
    }
    config.auth = auth;
  }
  return config;
}

export function parseHostsConfig(text: string, source = "hosts config"): HostsConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw invalidArgument(`${source}: not valid YAML: ${errorMessage(err).split("\n")[0]}`);
  }
  return validateHostsConfig(doc, source);
}

export async function loadHostsConfig(path: string): Promise<HostsConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw invalidArgument(`cannot read hosts config ${path}: ${errorMessage(err)}`);
  }
  return parseHostsConfig(text, `hosts config ${path}`);
}

/** Parses "http://host:port/prefix" or a bare "host:port" (then `plainHttp` picks the scheme). */
function parseEndpointUrl(endpoint: string, plainHttp: boolean, source: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint)
    ? endpoint
    : `${plainHttp ? "http" : "https"}://${endpoint}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw invalidArgument(
      `${source}: "${endpoint}" is not a URL: write it as http://host:port or https://host`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw invalidArgument(`${source}: "${endpoint}" must be an http:// or https:// URL`);
  }
  return url;
}

export interface EndpointOptions {
  /** `--plain-http`: every endpoint without an explicit scheme is reached over http://. */
  plainHttp?: boolean;
}

/**
 * The endpoints a registry host is reached through, in the order to try them: its
 * mirrors when the config lists any (and then only those), else the registry itself.
 */
export function registryEndpoints(
  registryHost: string,
  config: HostsConfig = {},
  options: EndpointOptions = {},
): RegistryEndpoint[] {
  const plain = (host: string) => options.plainHttp === true || (config.plainHttp ?? []).includes(host);
  const credentialsFor = (endpointHost: string): RegistryCredentials | undefined =>
    config.auth?.[endpointHost] ?? config.auth?.[registryHost];
  const mirrors = config.mirrors?.[registryHost];
  if (mirrors !== undefined) {
    if (mirrors.length === 0) {
      throw invalidArgument(
        `hosts config lists no endpoints for ${registryHost}: add a URL under mirrors.${registryHost} or remove the entry`,
      );
    }
    return mirrors.map((m) => {
      const bare = m.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").split("/")[0] ?? m;
      const url = parseEndpointUrl(m, plain(bare), `mirrors.${registryHost}`);
      const upstream =
        url.host === registryHost || (registryHost === "docker.io" && url.host === DOCKER_HUB_HOST);
      return endpoint(url, !upstream, credentialsFor(url.host));
    });
  }
  const host = registryHost === "docker.io" ? DOCKER_HUB_HOST : registryHost;
  const url = new URL(`${registryHost !== "docker.io" && plain(registryHost) ? "http" : "https"}://${host}`);
  return [endpoint(url, false, credentialsFor(host))];
}

function endpoint(url: URL, mirror: boolean, credentials: RegistryCredentials | undefined): RegistryEndpoint {
  // A path on the endpoint is a prefix in front of /v2 (unless it already ends in /v2).
  let path = url.pathname.replace(/\/+$/, "");
  if (!path.endsWith("/v2")) path += "/v2";
  const e: RegistryEndpoint = { host: url.host, baseUrl: `${url.protocol}//${url.host}${path}`, mirror };
  if (credentials !== undefined) e.credentials = credentials;
  return e;
}
