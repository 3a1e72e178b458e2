// berthctl cri statsp: pods' CPU and memory use, CPU between two samples --seconds apart.

import type { PodSandboxStats } from "@berth/api/cri/runtime/v1/api";
import { UsageError, parseOptions } from "../../command.js";
import { criCommand, outputFormat, wholeNumber } from "./context.js";
import { criTable, humanSize, parseLabels, truncateId } from "./format.js";
import { protoJson, writeJson } from "./json.js";
import { cpuPercent, sleep } from "./stats.js";

/** A table row; undefined for a pod that uses nothing or was not in the first sample. */
export function podStatsRow(s: PodSandboxStats, before: PodSandboxStats | undefined): string[] | undefined {
  const cpu = s.linux?.cpu?.usageCoreNanoSeconds?.value ?? 0n;
  const mem = s.linux?.memory?.workingSetBytes?.value ?? 0n;
  if ((cpu === 0n && mem === 0n) || before === undefined) return undefined;
  return [
    s.attributes?.metadata?.name ?? "",
    truncateId(s.attributes?.id ?? ""),
    cpuPercent(before.linux?.cpu, s.linux?.cpu),
    humanSize(mem),
  ];
}

export const statspCommand = criCommand({
  name: "statsp",
  summary: "show pods' resource usage",
  synopsis: "[--label K=V] [-s SECONDS] [-o table|json] [POD-ID]",
  help: [
    "--id ID               only this pod (as the POD-ID argument)",
    "--label K=V           only pods with this label (repeatable)",
    "-s, --seconds N       seconds between the two CPU samples (default 1)",
    '-o, --output FORMAT   "table" (default) or "json" (one sample)',
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      {
        id: { type: "string" },
        label: { type: "string", multiple: true },
        seconds: { type: "string", short: "s" },
        output: { type: "string", short: "o" },
      },
      "cri statsp",
    );
    if (positionals.length > 1) {
      throw new UsageError(`cri statsp takes at most one pod ID, got ${positionals.length}: use --label`);
    }
    const format = outputFormat(values.output, ["table", "json"]);
    const seconds = wholeNumber(values.seconds, "--seconds", 1);
    const filter = { id: values.id ?? positionals[0] ?? "", labelSelector: parseLabels(values.label) };
    const sample = async () =>
      (await ctx.cri.runtime.listPodSandboxStats({ filter }, { signal: ctx.signal })).stats.sort((a, b) =>
        (a.attributes?.id ?? "").localeCompare(b.attributes?.id ?? ""),
      );
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
      const row = podStatsRow(s, before.get(s.attributes?.id ?? ""));
      if (row !== undefined) rows.push(row);
    }
    ctx.stdout.write(criTable(["POD", "POD ID", "CPU %", "MEM"], rows));
  },
});
