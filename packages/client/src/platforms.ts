// Platforms ("linux/arm64/v8"): parsing, normalisation and matching the way containerd
// picks a manifest out of an index.

import { invalidArgument } from "./errdefs.js";

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const KNOWN_OS = new Set([
  "aix",
  "android",
  "darwin",
  "dragonfly",
  "freebsd",
  "illumos",
  "ios",
  "js",
  "linux",
  "netbsd",
  "openbsd",
  "plan9",
  "solaris",
  "windows",
]);

/** Node's `process.arch` in OCI terms. */
export function archOf(nodeArch: string = process.arch): Platform["architecture"] {
  switch (nodeArch) {
    case "x64":
      return "amd64";
    case "ia32":
      return "386";
    case "ppc64":
      return "ppc64le";
    default:
      return nodeArch;
  }
}

/** The platform this process runs on: linux/amd64 on x64 hosts. */
export function defaultPlatform(): Platform {
  const architecture = archOf();
  const os = process.platform === "win32" ? "windows" : process.platform;
  if (architecture === "arm") {
    const version = (process.config.variables as { arm_version?: string }).arm_version;
    return normalize({ os, architecture, variant: version !== undefined ? `v${version}` : "v7" });
  }
  return normalize({ os, architecture });
}

/** Canonical names: x86_64 → amd64, aarch64 → arm64 (its "v8" variant implied), armhf → arm/v7… */
export function normalize(p: Platform): Platform {
  const os = p.os.toLowerCase() === "macos" ? "darwin" : p.os.toLowerCase();
  let architecture = p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase() ?? "";
  switch (architecture) {
    case "i386":
      architecture = "386";
      variant = "";
      break;
    case "x86_64":
    case "x86-64":
    case "amd64":
      architecture = "amd64";
      if (variant === "v1") variant = "";
      break;
    case "aarch64":
    case "arm64":
      architecture = "arm64";
      if (variant === "8" || variant === "v8") variant = "";
      break;
    case "armhf":
      architecture = "arm";
      variant = "v7";
      break;
    case "armel":
      architecture = "arm";
      variant = "v6";
      break;
    case "arm":
      if (variant === "" || variant === "7") variant = "v7";
      else if (variant === "5" || variant === "6" || variant === "8") variant = `v${variant}`;
      break;
  }
  return variant === "" ? { os, architecture } : { os, architecture, variant };
}

const COMPONENT = /^[A-Za-z0-9_-]+$/;

/** Parses "linux/amd64", "linux/arm64/v8", "arm64" (os: linux) or "linux" (this machine's architecture). */
export function parsePlatform(spec: string): Platform {
  const parts = spec.split("/");
  if (parts.length > 3 || parts.some((p) => !COMPONENT.test(p))) {
    throw invalidArgument(`invalid platform "${spec}": write it as os/arch[/variant], e.g. linux/amd64`);
  }
  const [first = "", second, third] = parts;
  if (second === undefined) {
    if (KNOWN_OS.has(first.toLowerCase())) {
      const here = defaultPlatform();
      return first.toLowerCase() === here.os ? here : normalize({ os: first, architecture: archOf() });
    }
    return normalize({ os: "linux", architecture: first });
  }
  if (!KNOWN_OS.has(first.toLowerCase())) {
    throw invalidArgument(
      `unknown operating system "${first}" in platform "${spec}": write it as os/arch[/variant]`,
    );
  }
  return normalize({ os: first, architecture: second, ...(third !== undefined ? { variant: third } : {}) });
}

/** "linux/arm64/v8" style. */
export function formatPlatform(p: Platform): string {
  return p.variant !== undefined && p.variant !== ""
    ? `${p.os}/${p.architecture}/${p.variant}`
    : `${p.os}/${p.architecture}`;
}

export interface PlatformMatcher {
  /** Whether a platform (from an index entry or a config) can run here. */
  match(p: Platform): boolean;
  /** Preference rank of a matching platform, lower first; Infinity when it does not match. */
  rank(p: Platform): number;
}

/**
 * Matches `target` and, in order of preference after it, what it can also run: an
 * arm64 machine runs arm/v8…v5 images and an arm/v7 one runs v6 and v5 (like
 * containerd's platforms.Only).
 */
export function onlyPlatform(target: Platform): PlatformMatcher {
  const preferred = compatible(normalize(target));
  const rank = (p: Platform): number => {
    const n = normalize(p);
    const i = preferred.findIndex(
      (q) => q.os === n.os && q.architecture === n.architecture && (q.variant ?? "") === (n.variant ?? ""),
    );
    return i < 0 ? Number.POSITIVE_INFINITY : i;
  };
  return { rank, match: (p) => rank(p) !== Number.POSITIVE_INFINITY };
}

function compatible(p: Platform): Platform[] {
  const out: Platform[] = [p];
  if (p.architecture === "arm64") {
    out.push(...compatible({ os: p.os, architecture: "arm", variant: "v8" }));
  } else if (p.architecture === "arm") {
    const v = Number((p.variant ?? "v7").slice(1));
    for (let lower = v - 1; lower >= 5; lower--)
      out.push({ os: p.os, architecture: "arm", variant: `v${lower}` });
  }
  return out;
}
