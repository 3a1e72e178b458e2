// The chaos reports as a table for people: one column per stack, one row per count.
import type { ChaosReport } from "./chaos-run.js";
import type { Leaks } from "./leaks.js";

const LEAK_ROWS: Array<[keyof Leaks, string]> = [
  ["netns", "leaked netns"],
  ["mounts", "leaked mounts"],
  ["cgroups", "leaked cgroups"],
  ["shims", "leaked shims"],
  ["runcState", "leaked runc state dirs"],
  ["iptables", "leaked iptables rules"],
  ["leases", "leaked leases (no expiry)"],
];

const byKind = (counts: Partial<Record<string, number>>) =>
  Object.entries(counts)
    .map(([k, n]) => `${k} ${n}`)
    .join(", ") || "0";

export function reportTable(reports: readonly ChaosReport[]): string {
  const rows: Array<[string, (r: ChaosReport) => string | number]> = [
    ["runtime", (r) => r.runtime],
    ["seed", (r) => r.seed],
    ["pods kept running", (r) => r.targetPods],
    ["fault period (s)", (r) => r.faultSeconds],
    ["wall time (s)", (r) => r.wallSeconds],
    ["faults injected", (r) => Object.values(r.faults.injected).reduce((a, n) => a + (n ?? 0), 0)],
    ["  by kind", (r) => byKind(r.faults.injected)],
    ["  skipped", (r) => byKind(r.faults.skipped)],
    ["pods created", (r) => r.pods.created],
    ["pod creations failed", (r) => r.pods.createFailed],
    ["pods removed", (r) => r.pods.removed],
    ["pods that should run", (r) => r.pods.shouldRun],
    ["  missing from the list", (r) => r.pods.missing],
    ["  not ready", (r) => r.pods.notReady],
    ["stray pods listed", (r) => r.pods.stray],
    ["containers running", (r) => `${r.containers.running} of ${r.containers.shouldRun}`],
    ["containers lost", (r) => r.containers.lost],
    ["  by fault before", (r) => byKind(r.containers.lostByFault)],
    ["exec ok / failed", (r) => `${r.exec.ok} / ${r.exec.failed}`],
    ["log lines read", (r) => `${r.logs.lines} (${r.logs.containers} logs)`],
    ["log lines lost", (r) => `${r.logs.lost} (in ${r.logs.withGaps} logs)`],
    ["log lines duplicated", (r) => r.logs.duplicated],
    ["log lines malformed", (r) => r.logs.malformed],
    ["corrupt blobs", (r) => `${r.blobs.corrupt} of ${r.blobs.checked}`],
    ...LEAK_ROWS.map(([key, label]): [string, (r: ChaosReport) => number] => [label, (r) => r.leaks[key]]),
    ["leases left, expiring", (r) => r.expiringLeases.length],
  ];
  const cells = rows.map(([label, f]) => [label, ...reports.map((r) => String(f(r)))]);
  const widths = [0, ...reports.map(() => 0)].map((_, i) =>
    Math.max(...cells.map((c) => (c[i] ?? "").length)),
  );
  return cells
    .map((c) =>
      c
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
