// How crictl prints things, so `berthctl cri` output reads (and parses) the same: its
// tables, "5 minutes ago", sizes such as "1.23MB", 13-character IDs and state names.

import { ContainerState, PodSandboxState } from "@berth/api/cri/runtime/v1/api";
import { UsageError } from "../../command.js";

/**
 * crictl's tables (Go's tabwriter with a minimum cell width of 20 and a padding of 3):
 * every column but the last is as wide as its widest cell plus 3, and at least 20.
 */
export function criTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const all = [header, ...rows];
  const columns = Math.max(...all.map((r) => r.length));
  const widths: number[] = [];
  for (let i = 0; i < columns - 1; i++) {
    widths.push(Math.max(20, ...all.map((r) => (r[i] ?? "").length + 3)));
  }
  return all
    .map((r) => `${r.map((cell, i) => (i < r.length - 1 ? cell.padEnd(widths[i] ?? 0) : cell)).join("")}\n`)
    .join("");
}

/** Docker's HumanDuration, which crictl prints before "ago": "Less than a second", "About a minute", "3 hours". */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(ms / 3_600_000 / 24 / 365)} years`;
}

/** "5 minutes ago" for a CRI timestamp (Unix nanoseconds). */
export function createdAgo(ns: bigint, nowMs = Date.now()): string {
  return `${humanDuration(nowMs - Number(ns / 1_000_000n))} ago`;
}

/** Go's %.<precision>g: shortest form, trailing zeros dropped, exponent as e+03. */
function formatG(value: number, precision: number): string {
  const s = value.toPrecision(precision);
  const e = s.indexOf("e");
  const trim = (m: string) => (m.includes(".") ? m.replace(/\.?0+$/, "") : m);
  if (e < 0) return trim(s);
  const exponent = Number(s.slice(e + 1));
  const sign = exponent < 0 ? "-" : "+";
  return `${trim(s.slice(0, e))}e${sign}${String(Math.abs(exponent)).padStart(2, "0")}`;
}

const DECIMAL_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/** Docker's HumanSize: powers of 1000, `precision` significant digits ("4.194MB"; images use 3). */
export function humanSize(bytes: number | bigint, precision = 4): string {
  let size = Number(bytes);
  let unit = 0;
  while (size >= 1000 && unit < DECIMAL_UNITS.length - 1) {
    size /= 1000;
    unit++;
  }
  return `${formatG(size, precision)}${DECIMAL_UNITS[unit]}`;
}

/** The first 13 characters of an ID (after `prefix`, e.g. "sha256:"), as crictl shows them. */
export function truncateId(id: string, prefix = ""): string {
  const rest = prefix !== "" && id.startsWith(prefix) ? id.slice(prefix.length) : id;
  return rest.slice(0, 13);
}

export function podStateName(state: PodSandboxState): string {
  switch (state) {
    case PodSandboxState.SANDBOX_READY:
      return "Ready";
    case PodSandboxState.SANDBOX_NOTREADY:
      return "NotReady";
    default:
      return "Unknown";
  }
}

export function containerStateName(state: ContainerState): string {
  switch (state) {
    case ContainerState.CONTAINER_CREATED:
      return "Created";
    case ContainerState.CONTAINER_RUNNING:
      return "Running";
    case ContainerState.CONTAINER_EXITED:
      return "Exited";
    default:
      return "Unknown";
  }
}

const pad2 = (n: number) => String(n).padStart(2, "0");

/**
 * Go's time.RFC3339Nano of a CRI timestamp, in the zone `offsetMinutes` east of UTC
 * (default: this machine's at that time), as crictl prints times in inspect output:
 * "2024-05-01T10:00:00.12+02:00", "…Z" in UTC. Zero is Go's zero time.
 */
export function rfc3339Nano(ns: bigint, offsetMinutes?: number): string {
  if (ns === 0n) return "0001-01-01T00:00:00Z";
  const ms = Number(ns / 1_000_000n) - (ns % 1_000_000n < 0n ? 1 : 0);
  const offset = offsetMinutes ?? -new Date(ms).getTimezoneOffset();
  const local = new Date(ms + offset * 60_000);
  const fraction = (((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n)
    .toString()
    .padStart(9, "0")
    .replace(/0+$/, "");
  const zone =
    offset === 0
      ? "Z"
      : `${offset < 0 ? "-" : "+"}${pad2(Math.trunc(Math.abs(offset) / 60))}:${pad2(Math.abs(offset) % 60)}`;
  return `${local.toISOString().slice(0, 19)}${fraction !== "" ? `.${fraction}` : ""}${zone}`;
}

/** crictl's --label K=V values (each must have exactly one "="). */
export function parseLabels(
  items: readonly string[] | undefined,
  option = "--label",
): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const item of items ?? []) {
    const parts = item.split("=");
    if (parts.length !== 2 || parts[0] === "") {
      throw new UsageError(`${option} ${JSON.stringify(item)} is not KEY=VALUE: e.g. ${option} app=web`);
    }
    labels[parts[0]!] = parts[1]!;
  }
  return labels;
}
