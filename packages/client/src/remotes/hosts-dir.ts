// Registry hosts in containerd's hosts directory format (its `config_path`, ctr's
// `--hosts-dir`): `<dir>/<host>/hosts.toml`, or `<dir>/_default/hosts.toml`.
//
//   server = "https://registry.example:5000"      # the registry itself, tried last
//   ca = "ca.pem"                                 # paths relative to the host's directory
//   [host."https://127.0.0.1:5443"]               # mirrors, tried first, in file order
//     capabilities = ["pull", "resolve"]
//     ca = ["ca.pem"]
//     client = [["client.pem", "client-key.pem"]]
//     skip_verify = false
//     [host."https://127.0.0.1:5443".header]
//       x-mirror = "yes"
//
// As containerd 1.6 does: the server entry (top-level keys) is always last; without
// `server` it is the registry of the reference (docker.io: registry-1.docker.io;
// localhost and loopback addresses: http://). A directory without hosts.toml is read
// the way Docker's certs.d is: *.crt are CAs, *.cert with a same-named *.key are client
// pairs. Unlike containerd, a malformed hosts.toml is an error (containerd logs it and
// falls back to the certificate files), so a typo does not silently change the hosts.

import { readFile, readdir, stat } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { TomlError, parse as parseToml } from "smol-toml";
import { errorMessage, invalidArgument } from "../errdefs.js";
import {
  DOCKER_HUB_HOST,
  type EndpointTls,
  type RegistryCredentials,
  type RegistryEndpoint,
} from "./hosts.js";

export const HOST_CAPABILITIES = ["pull", "resolve", "push"] as const;
export type HostCapability = (typeof HOST_CAPABILITIES)[number];

/** One host of a hosts.toml (a `[host."…"]` section, or the top-level server), its files unread. */
export interface HostEntry {
  /** "https:" or "http:"; undefined for the server entry when `server` is not set. */
  protocol?: "http:" | "https:";
  /** "mirror.example:5000"; undefined when `server` is not set. */
  host?: string;
  /** API root: "/v2" (or the URL's path with /v2 added; as written with override_path). */
  path: string;
  capabilities: HostCapability[];
  /** Absolute paths of CA files, trusted besides the system's roots. */
  ca?: string[];
  /** Absolute [certificate, key] paths; key "" when the certificate file holds the key too. */
  client?: Array<[string, string]>;
  skipVerify?: boolean;
  header?: Record<string, string[]>;
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The 1-based line where `key` is first assigned at or after line `from`, for errors about its value. */
function lineOf(text: string, key: string, from = 1): number | undefined {
  const lines = text.split("\n");
  const k = escapeRegExp(key);
  const re = new RegExp(`^\\s*(${k}|"${k}"|'${k}')\\s*=`);
  for (let i = Math.max(0, from - 1); i < lines.length; i++) if (re.test(lines[i] ?? "")) return i + 1;
  return undefined;
}

/** The line of the `[host."<url>"]` header (not a `server = "<url>"` line naming the same URL). */
function sectionLine(text: string, url: string): number {
  const lines = text.split("\n");
  const header = lines.findIndex((l) => /^\s*\[/.test(l) && l.includes(url));
  const any = lines.findIndex((l) => l.includes(url));
  return (header >= 0 ? header : Math.max(any, 0)) + 1;
}

const HOST_KEYS = new Set([
  "capabilities",
  "ca",
  "client",
  "skip_verify",
  "header",
  "override_path",
  // containerd 2's connect timeout: accepted so its files load, not applied.
  "dial_timeout",
]);

type Fail = (line: number | undefined, what: string) => Error;

/**
 * Parses one hosts.toml: its `[host."…"]` entries in file order, then the server entry.
 * `dir` resolves relative paths; `file` names the file in errors ("file:line: …").
 */
export function parseHostsToml(text: string, dir: string, file = join(dir, "hosts.toml")): HostEntry[] {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      const what = err.message.split("\n")[0] ?? err.message;
      throw invalidArgument(`${file}:${err.line}:${err.column}: not valid TOML: ${what}`);
    }
    throw invalidArgument(`${file}: not valid TOML: ${errorMessage(err)}`);
  }
  const fail: Fail = (line, what) =>
    invalidArgument(`${file}:${line ?? 1}: ${what} (containerd's hosts.toml format)`);

  const entries: HostEntry[] = [];
  const { server, host, ...root } = doc;
  if (host !== undefined) {
    if (!isTable(host)) throw fail(lineOf(text, "host"), 'host must be a table of [host."<url>"] sections');
    // TOML tables keep the file's order here (URL keys are never array indexes).
    for (const [url, section] of Object.entries(host)) {
      const line = sectionLine(text, url);
      if (!isTable(section)) throw fail(line, `host."${url}" must be a table`);
      entries.push(parseEntry(url, section, dir, text, line, fail));
    }
  }
  if (server !== undefined && typeof server !== "string") {
    throw fail(lineOf(text, "server"), 'server must be a URL string, e.g. "https://registry.example"');
  }
  // Top-level keys come before the first section, so their lines are searched from 1.
  entries.push(parseEntry(server === "" ? undefined : server, root, dir, text, 0, fail));
  return entries;
}

function parseEntry(
  url: string | undefined,
  section: Record<string, unknown>,
  dir: string,
  text: string,
  line: number,
  fail: Fail,
): HostEntry {
  const where = line === 0 ? "" : `host."${url}".`;
  const at = (key: string) => lineOf(text, key, Math.max(1, line));
  for (const key of Object.keys(section)) {
    if (!HOST_KEYS.has(key)) {
      throw fail(
        at(key) ?? line,
        `unknown key "${where}${key}": the keys are server, capabilities, ca, client, skip_verify, header, override_path and [host."<url>"] sections`,
      );
    }
  }
  const overridePath = section.override_path;
  if (overridePath !== undefined && typeof overridePath !== "boolean") {
    throw fail(at("override_path"), `${where}override_path must be true or false`);
  }
  const entry: HostEntry = { path: "/v2", capabilities: [...HOST_CAPABILITIES] };
  if (url !== undefined) {
    const urlLine = line === 0 ? lineOf(text, "server") : line;
    let u: URL;
    try {
      u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `https://${url}`);
    } catch {
      throw fail(urlLine, `"${url}" is not a URL: write it as https://host[:port][/path]`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") {
      throw fail(urlLine, `"${url}" must be an http:// or https:// URL`);
    }
    entry.protocol = u.protocol;
    entry.host = u.host;
    let path = u.pathname.replace(/\/+/g, "/").replace(/\/$/, "");
    if (overridePath !== true && !path.endsWith("/v2")) path += "/v2";
    entry.path = path;
  }

  const caps = section.capabilities;
  if (caps !== undefined) {
    if (!Array.isArray(caps) || !caps.every((c) => typeof c === "string")) {
      throw fail(at("capabilities"), `${where}capabilities must be a list such as ["pull", "resolve"]`);
    }
    if (caps.length > 0) {
      const list: HostCapability[] = [];
      for (const c of caps) {
        const lower = c.toLowerCase() as HostCapability;
        if (!HOST_CAPABILITIES.includes(lower)) {
          throw fail(
            at("capabilities"),
            `${where}capabilities: unknown capability "${c}" (they are pull, resolve, push)`,
          );
        }
        if (!list.includes(lower)) list.push(lower);
      }
      entry.capabilities = list;
    }
  }

  const abs = (p: string) => (isAbsolute(p) ? p : join(dir, p));
  const ca = section.ca;
  if (ca !== undefined) {
    if (typeof ca === "string") entry.ca = [abs(ca)];
    else if (Array.isArray(ca) && ca.every((c) => typeof c === "string")) entry.ca = ca.map(abs);
    else throw fail(at("ca"), `${where}ca must be a path or a list of paths`);
  }

  const client = section.client;
  if (client !== undefined) {
    const bad = () =>
      fail(
        at("client"),
        `${where}client must be a path, a list of paths, or a list of [certificate, key] pairs`,
      );
    const pairs: Array<[string, string]> = [];
    if (typeof client === "string") pairs.push([abs(client), ""]);
    else if (Array.isArray(client)) {
      for (const item of client) {
        if (typeof item === "string") pairs.push([abs(item), ""]);
        else if (Array.isArray(item) && item.length === 2 && item.every((p) => typeof p === "string")) {
          const [cert, key] = item as [string, string];
          pairs.push([abs(cert), key === "" ? "" : abs(key)]);
        } else throw bad();
      }
    } else throw bad();
    entry.client = pairs;
  }

  const skip = section.skip_verify;
  if (skip !== undefined) {
    if (typeof skip !== "boolean") throw fail(at("skip_verify"), `${where}skip_verify must be true or false`);
    entry.skipVerify = skip;
  }

  const header = section.header;
  if (header !== undefined) {
    if (!isTable(header))
      throw fail(at("header") ?? line, `${where}header must be a table of names to values`);
    const out: Record<string, string[]> = {};
    for (const [name, value] of Object.entries(header)) {
      if (typeof value === "string") out[name] = [value];
      else if (Array.isArray(value) && value.every((v) => typeof v === "string")) out[name] = [...value];
      else throw fail(at(name) ?? line, `${where}header.${name} must be a string or a list of strings`);
    }
    entry.header = out;
  }

  const dial = section.dial_timeout;
  if (dial !== undefined && typeof dial !== "string") {
    throw fail(at("dial_timeout"), `${where}dial_timeout must be a duration string such as "5s"`);
  }
  return entry;
}

/** The directories a registry host's config is looked for in, in containerd's order. */
export function hostDirCandidates(root: string, registryHost: string): string[] {
  const out: string[] = [];
  const colon = registryHost.lastIndexOf(":");
  if (colon > 0) out.push(join(root, `${registryHost.slice(0, colon)}_${registryHost.slice(colon + 1)}_`));
  out.push(join(root, registryHost), join(root, "_default"));
  return out;
}

/** Loopback names, for which containerd's default server speaks plain HTTP. */
export function isLocalhost(host: string): boolean {
  const name = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.replace(/:\d+$/, "");
  return name === "localhost" || name === "::1" || /^127\.\d+\.\d+\.\d+$/.test(name);
}

export interface HostsDirOptions {
  /** `--plain-http`: the default server (when `server` is not set) is reached over http://. */
  plainHttp?: boolean;
  /** Basic credentials per endpoint host, or per registry host. */
  auth?: Record<string, RegistryCredentials>;
}

function defaultEntry(): HostEntry {
  return { path: "/v2", capabilities: [...HOST_CAPABILITIES] };
}

/**
 * The endpoints of `registryHost` from its parsed hosts.toml entries (undefined: no
 * config found), with the server entry completed as containerd 1.6 completes it.
 */
export function hostsDirEndpoints(
  registryHost: string,
  entries: readonly HostEntry[] | undefined,
  options: HostsDirOptions = {},
): Array<RegistryEndpoint & { entry: HostEntry }> {
  const list = entries === undefined || entries.length === 0 ? [defaultEntry()] : [...entries];
  const last = list[list.length - 1];
  if (last !== undefined && last.host === undefined) {
    const completed: HostEntry = { ...last, path: "/v2", capabilities: [...HOST_CAPABILITIES] };
    if (registryHost === "docker.io") {
      completed.protocol = "https:";
      completed.host = DOCKER_HUB_HOST;
    } else if (isLocalhost(registryHost) || options.plainHttp === true) {
      completed.protocol = "http:";
      completed.host = registryHost;
    } else {
      completed.protocol = "https:";
      completed.host = registryHost;
    }
    list[list.length - 1] = completed;
  }
  return list.map((entry) => {
    const host = entry.host ?? registryHost;
    const upstream = host === registryHost || (registryHost === "docker.io" && host === DOCKER_HUB_HOST);
    const e: RegistryEndpoint & { entry: HostEntry } = {
      host,
      baseUrl: `${entry.protocol ?? "https:"}//${host}${entry.path}`,
      mirror: !upstream,
      capabilities: entry.capabilities,
      entry,
    };
    const creds = options.auth?.[host] ?? options.auth?.[registryHost];
    if (creds !== undefined) e.credentials = creds;
    if (entry.header !== undefined) e.headers = entry.header;
    return e;
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw invalidArgument(`cannot read hosts directory ${path}: ${errorMessage(err)}`);
  }
}

/** Docker's certs.d layout: *.crt are CAs; *.cert (with *.key beside it, if any) client pairs. */
async function certFileEntries(dir: string): Promise<HostEntry[]> {
  const entry = defaultEntry();
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((d) => !d.isDirectory()).map((d) => d.name);
  } catch (err) {
    throw invalidArgument(`cannot read hosts directory ${dir}: ${errorMessage(err)}`);
  }
  names.sort();
  const ca = names.filter((n) => n.endsWith(".crt")).map((n) => join(dir, n));
  const client = names
    .filter((n) => n.endsWith(".cert"))
    .map((n): [string, string] => {
      const key = `${n.slice(0, -".cert".length)}.key`;
      return [join(dir, n), names.includes(key) ? join(dir, key) : ""];
    });
  if (ca.length > 0) entry.ca = ca;
  if (client.length > 0) entry.client = client;
  return [entry];
}

/**
 * Reads the config of `registryHost` under `root`: the first of its candidate directories
 * that exists; undefined when none does. Read at every call, so edits apply to the next pull.
 */
export async function loadHostsDir(
  root: string,
  registryHost: string,
): Promise<{ dir: string; file: string; entries: HostEntry[] } | undefined> {
  for (const dir of hostDirCandidates(root, registryHost)) {
    if (!(await exists(dir))) continue;
    const file = join(dir, "hosts.toml");
    let text = "";
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
        throw invalidArgument(`cannot read ${file}: ${errorMessage(err)}`);
      }
    }
    if (text.trim() === "") return { dir, file, entries: await certFileEntries(dir) };
    return { dir, file, entries: parseHostsToml(text, dir, file) };
  }
  return undefined;
}

/** Reads the CA and client certificate files an entry names; `source` names the hosts.toml in errors. */
export async function readEndpointTls(entry: HostEntry, source: string): Promise<EndpointTls | undefined> {
  if (entry.ca === undefined && entry.client === undefined && entry.skipVerify === undefined)
    return undefined;
  const read = async (path: string, what: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (err) {
      throw invalidArgument(`${source}: cannot read the ${what} ${path}: ${errorMessage(err)}`);
    }
  };
  const tls: EndpointTls = { source };
  if (entry.skipVerify !== undefined) tls.skipVerify = entry.skipVerify;
  if (entry.ca !== undefined) {
    tls.ca = [];
    for (const path of entry.ca) {
      const pem = await read(path, "CA certificate (ca)");
      if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
        throw invalidArgument(`${source}: the CA file ${path} (ca) holds no PEM certificate`);
      }
      tls.ca.push(pem);
    }
  }
  if (entry.client !== undefined) {
    tls.clientCertificates = [];
    for (const [certPath, keyPath] of entry.client) {
      const cert = await read(certPath, "client certificate (client)");
      const key = keyPath === "" ? cert : await read(keyPath, "client key (client)");
      if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.toString("latin1"))) {
        throw invalidArgument(
          `${source}: no private key in ${keyPath === "" ? certPath : keyPath} (client): give client = [["cert.pem", "key.pem"]]`,
        );
      }
      tls.clientCertificates.push({ cert, key });
    }
  }
  return tls;
}

/**
 * The endpoints of `registryHost` under the hosts directory `root`, in the order to try
 * them, with their TLS files read. Each names the hosts.toml that configures it.
 */
export async function hostsDirRegistryEndpoints(
  root: string,
  registryHost: string,
  options: HostsDirOptions = {},
): Promise<RegistryEndpoint[]> {
  const loaded = await loadHostsDir(root, registryHost);
  const hostsFile = loaded?.file ?? join(root, registryHost, "hosts.toml");
  const out: RegistryEndpoint[] = [];
  for (const { entry, ...endpoint } of hostsDirEndpoints(registryHost, loaded?.entries, options)) {
    endpoint.hostsFile = hostsFile;
    if (endpoint.baseUrl.startsWith("https:")) {
      const tls = await readEndpointTls(entry, hostsFile);
      if (tls !== undefined) endpoint.tls = tls;
    }
    out.push(endpoint);
  }
  return out;
}

/**
 * Checks a whole hosts directory at start: it is a directory, and every hosts.toml in it
 * parses and names CA and client files that can be read. Throws the first problem.
 */
export async function checkHostsDir(root: string): Promise<void> {
  let dirs: string[];
  try {
    dirs = (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "does not exist" : code === "ENOTDIR" ? "is not a directory" : errorMessage(err);
    throw invalidArgument(`hosts directory ${root} ${why}: create it with a <host>/hosts.toml per registry`);
  }
  for (const name of dirs.sort()) {
    const loaded = await loadHostsDir(root, name);
    if (loaded === undefined) continue;
    for (const entry of loaded.entries) await readEndpointTls(entry, loaded.file);
  }
}
