// berthctl cri stats: containers' CPU, memory and writable-layer use. The CPU column is
// the share of one core used between two samples taken --seconds apart.

import type { ContainerStats, CpuUsage } from "@berth/api/cri/runtime/v1/api";
import { UsageError, parseOptions } from "../../command.js";
import { criCommand, outputFormat, wholeNumber } from "./context.js";
import { criTable, humanSize, parseLabels, truncateId } from "./format.js";
import { protoJson, writeJson } from "./json.js";

/** CPU % between two samples, with two decimals; "-" when the runtime's sample did not move. */
export function cpuPercent(before: CpuUsage | undefined, after: CpuUsage | undefined): string {
  const used = after?.usageCoreNanoSeconds?.value ?? 0n;
  if (used === 0n) return "0.00";
  const elapsed = (after?.timestamp ?? 0n) - (before?.timestamp ?? 0n);
  if (elapsed <= 0n) return "-";
  const delta = used - (before?.usageCoreNanoSeconds?.value ?? 0n);
  return ((Number(delta) / Number(elapsed)) * 100).toFixed(2);
}

/** Waits `ms`, or less if the command is interrupted. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

const byId = (
  a: { attributes?: { id: string } | undefined },
  b: { attributes?: { id: string } | undefined },
) => (a.attributes?.id ?? "").localeCompare(b.attributes?.id ?? "");

export const statsCommand = criCommand({
  name: "stats",
  summary: "show containers' resource usage",
  synopsis: "[-a] [-p POD-ID] [--label K=V] [-s SECONDS] [-o table|json] [CONTAINER-ID]",
  help: [
    "-a, --all             also containers that use nothing (stopped ones)",
    "--id ID               only this container (as the CONTAINER-ID argument)",
    "-p, --pod ID          only the containers of this pod",
    "--label K=V           only containers with this label (repeatable)",
    "-s, --seconds N       seconds between the two CPU samples (default 1)",
    '-o, --output FORMAT   "table" (default) or "json" (one sample)',
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      {
        all: { type: "boolean", short: "a" },
        id: { type: "string" },
        pod: { type: "string", short: "p" },
        label: { type: "string", multiple: true },
        seconds: { type: "string", short: "s" },
        output: { type: "string", short: "o" },
      },
      "cri stats",
    );
    if (positionals.length > 1) {
      throw new UsageError(
        `cri stats takes at most one container ID, got ${positionals.length}: use --pod or --label`,
      );
    }
    const format = outputFormat(values.output, ["table", "json"]);
    const seconds = wholeNumber(values.seconds, "--seconds", 1);
    const filter = {
      id: values.id ?? positionals[0] ?? "",
      podSandboxId: values.pod ?? "",
      labelSelector: parseLabels(values.label),
    };
    const sample = async () =>
      (await ctx.cri.runtime.listContainerStats({ filter }, { signal: ctx.signal })).stats.sort(byId);
    const first = await sample();
    if (format === "json") {
      writeJson(ctx.stdout, protoJson({ stats: first }));
      return;
    }
    const before = new Map(first.map((s) => [s.attributes?.id ?? "", s]));
    await sleep(seconds * 1000, ctx.signal);
    if (ctx.signal.aborted) return;
    const rows: string[][] = [];
    for (const s of await sample()) {
      const row = statsRow(s, before.get(s.attributes?.id ?? ""), values.all === true);
      if (row !== undefined) rows.push(row);
    }
    ctx.stdout.write(criTable(["CONTAINER", "NAME", "CPU %", "MEM", "DISK", "INODES"], rows));
  },
});

/** A table row; undefined for a container that uses nothing (unless all) or was not in the first sample. */
export function statsRow(
  s: ContainerStats,
  before: ContainerStats | undefined,
  all: boolean,
): string[] | undefined {
  const cpu = s.cpu?.usageCoreNanoSeconds?.value ?? 0n;
  const mem = s.memory?.workingSetBytes?.value ?? 0n;
  if (!all && cpu === 0n && mem === 0n) return undefined;
  if (before === undefined) return undefined;
  return [
    truncateId(s.attributes?.id ?? ""),
    s.attributes?.metadata?.name ?? "",
    cpuPercent(before.cpu, s.cpu),
    humanSize(mem),
    humanSize(s.writableLayer?.usedBytes?.value ?? 0n),
    String(s.writableLayer?.inodesUsed?.value ?? 0n),
  ];
}
