// Which Berth this is: the version and git commit every program reports (--version, the
// Version RPCs). They come from build-info.json at the workspace root (written by the
// build, copied into an installed release), found from this file's own place, which is
// packages/client/dist/ in the clone and in a release alike.
import { readFileSync } from "node:fs";

export interface BuildInfo {
  /** Berth's version, the root package.json's ("0.1.0"). */
  version: string;
  /** The git commit built, with ".m" when tracked files were modified; "unknown" without git. */
  revision: string;
}

/** Parses build-info.json's text; what is missing or malformed is "unknown". */
export function parseBuildInfo(text: string | undefined): BuildInfo {
  let value: unknown;
  try {
    value = text === undefined ? undefined : JSON.parse(text);
  } catch {
    value = undefined;
  }
  const record = typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  const field = (name: string) => {
    const v = record[name];
    return typeof v === "string" && v !== "" ? v : "unknown";
  };
  return { version: field("version"), revision: field("revision") };
}

let cached: BuildInfo | undefined;

export function buildInfo(): BuildInfo {
  if (cached === undefined) {
    let text: string | undefined;
    try {
      text = readFileSync(new URL("../../../build-info.json", import.meta.url), "utf8");
    } catch {
      text = undefined; // built with tsc alone: no build-info.json
    }
    cached = parseBuildInfo(text);
  }
  return cached;
}

/** `<program> berth <version> <revision>`, the one line `--version` prints (as containerd's does). */
export function versionLine(program: string): string {
  const { version, revision } = buildInfo();
  return `${program} berth ${version} ${revision}\n`;
}
