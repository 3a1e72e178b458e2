// Pod and container config files in crictl's format: JSON or YAML documents of CRI's
// PodSandboxConfig and ContainerConfig, keys in snake_case (as crictl's examples write
// them) or camelCase, enums by number or name. Fields nobody knows are reported, since
// crictl would silently drop a misspelt one.

import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { ContainerConfig, PodSandboxConfig } from "@berth/api/cri/runtime/v1/api";
import { BerthError } from "@berth/client";
import { type YamlValue, parseYaml } from "./yaml.js";

export interface LoadedConfig<T> {
  config: T;
  /** "unknown field linux.security_context.run_as_usr": fields the file has and CRI does not. */
  warnings: string[];
}

function configError(path: string, what: string, next: string): BerthError {
  return new BerthError("InvalidArgument", `${what} in ${path}: ${next}`);
}

/** The document in a config file's text: JSON when it looks like JSON, else YAML. */
export function parseConfigText(text: string, path: string): unknown {
  const trimmed = text.trimStart();
  if (path.endsWith(".json") || trimmed.startsWith("{")) {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw configError(
        path,
        `invalid JSON (${(err as Error).message})`,
        "fix the file, or write it as YAML",
      );
    }
  }
  try {
    return parseYaml(text);
  } catch (err) {
    throw configError(path, `invalid YAML (${(err as Error).message})`, "fix the file, or write it as JSON");
  }
}

const camel = (key: string) => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
  );
}

/**
 * The fields of `doc` that did not make it into `message` (what fromJSON built from it).
 * Maps (labels, annotations…) copy every key, so only misspelt message fields remain.
 */
export function unknownFields(doc: unknown, message: unknown, path = ""): string[] {
  if (Array.isArray(doc) && Array.isArray(message)) {
    return doc.flatMap((d, i) => unknownFields(d, message[i], `${path}[${i}]`));
  }
  if (!isPlainObject(doc) || !isPlainObject(message)) return [];
  const out: string[] = [];
  for (const [key, value] of Object.entries(doc)) {
    const name = path === "" ? key : `${path}.${key}`;
    const field = Object.hasOwn(message, key) ? key : camel(key);
    if (!Object.hasOwn(message, field)) out.push(name);
    else out.push(...unknownFields(value, message[field], name));
  }
  return out;
}

/** `build` (a ts-proto fromJSON) over the document, with its failures said in one line. */
function convert<T>(doc: unknown, path: string, what: string, build: (doc: unknown) => T): LoadedConfig<T> {
  if (!isPlainObject(doc)) {
    throw configError(
      path,
      `no ${what} (the document is not a mapping)`,
      `see 'berthctl cri --help' for an example`,
    );
  }
  let config: T;
  try {
    config = build(doc);
  } catch (err) {
    // BigInt("x") and the like: a value of the wrong type.
    throw configError(
      path,
      `a value of the wrong type (${(err as Error).message})`,
      "check the numbers in it",
    );
  }
  return { config, warnings: unknownFields(doc, config).map((f) => `unknown field ${f}`) };
}

async function readConfig(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new BerthError(
      code === "ENOENT" ? "NotFound" : "InvalidArgument",
      `cannot read the ${what} ${path} (${code}): check the path`,
    );
  }
  return parseConfigText(text, path);
}

/** Checks a pod config as crictl does; a missing uid is made up. */
export function podSandboxConfigFrom(doc: unknown, path: string): LoadedConfig<PodSandboxConfig> {
  const loaded = convert(doc, path, "pod config", (d) => PodSandboxConfig.fromJSON(d));
  const metadata = loaded.config.metadata;
  if (metadata === undefined) {
    throw configError(path, "no metadata", "a pod config needs metadata: {name: N, namespace: NS}");
  }
  if (metadata.name === "" || metadata.namespace === "") {
    throw configError(path, "no metadata.name or metadata.namespace", "a pod needs both");
  }
  if (metadata.uid === "") metadata.uid = randomUUID();
  return loaded;
}

/** Checks a container config as crictl does. */
export function containerConfigFrom(doc: unknown, path: string): LoadedConfig<ContainerConfig> {
  const loaded = convert(doc, path, "container config", (d) => ContainerConfig.fromJSON(d));
  if (loaded.config.metadata === undefined || loaded.config.metadata.name === "") {
    throw configError(path, "no metadata.name", "a container config needs metadata: {name: N}");
  }
  if (loaded.config.image === undefined || loaded.config.image.image === "") {
    throw configError(path, "no image.image", "a container config needs image: {image: REF}");
  }
  return loaded;
}

export async function loadPodSandboxConfig(path: string): Promise<LoadedConfig<PodSandboxConfig>> {
  return podSandboxConfigFrom(await readConfig(path, "pod config"), path);
}

export async function loadContainerConfig(path: string): Promise<LoadedConfig<ContainerConfig>> {
  return containerConfigFrom(await readConfig(path, "container config"), path);
}

export type { YamlValue };
