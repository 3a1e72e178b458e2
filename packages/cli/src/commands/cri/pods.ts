// berthctl cri pods: the pod sandboxes, newest first, in crictl's columns.

import { type PodSandboxFilter, PodSandboxState, podSandboxStateToJSON } from "@berth/api/cri/runtime/v1/api";
import { UsageError, parseOptions } from "../../command.js";
import { criCommand, outputFormat, wholeNumber } from "./context.js";
import { createdAgo, criTable, parseLabels, podStateName, truncateId } from "./format.js";
import { protoJson, writeJson } from "./json.js";
import { newestFirst, patternTest } from "./selection.js";

/** --state for pods: "ready" or "notready", in any case. */
export function podStateFilter(state: string | undefined): PodSandboxState | undefined {
  if (state === undefined || state === "") return undefined;
  switch (state.toLowerCase()) {
    case "ready":
      return PodSandboxState.SANDBOX_READY;
    case "notready":
      return PodSandboxState.SANDBOX_NOTREADY;
    default:
      throw new UsageError(
        `unknown pod state ${JSON.stringify(state)}: use --state ready or --state notready`,
      );
  }
}

export const podsCommand = criCommand({
  name: "pods",
  summary: "list pods",
  synopsis: "[--name RE] [--namespace RE] [--state ready|notready] [--label K=V] [-q] [-o table|json]",
  help: [
    "--id ID               only the pod with this ID",
    "--name RE             only pods whose name matches this regular expression",
    "--namespace RE        only pods whose namespace matches this regular expression",
    "-s, --state STATE     only ready or notready pods",
    "--label K=V           only pods with this label (repeatable)",
    "-l, --latest          only the newest pod",
    "-n, --last N          only the N newest pods",
    "-q, --quiet           print only the pod IDs",
    '-o, --output FORMAT   "table" (default) or "json"',
    "--no-trunc            print whole IDs",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      {
        id: { type: "string" },
        name: { type: "string" },
        namespace: { type: "string" },
        state: { type: "string", short: "s" },
        label: { type: "string", multiple: true },
        latest: { type: "boolean", short: "l" },
        last: { type: "string", short: "n" },
        quiet: { type: "boolean", short: "q" },
        output: { type: "string", short: "o" },
        "no-trunc": { type: "boolean" },
      },
      "cri pods",
    );
    if (positionals.length > 0) {
      throw new UsageError(
        `cri pods takes no arguments, got ${JSON.stringify(positionals[0])}: filter with --name`,
      );
    }
    const format = outputFormat(values.output, ["table", "json"]);
    const state = podStateFilter(values.state);
    const filter: PodSandboxFilter = {
      id: values.id ?? "",
      state: state !== undefined ? { state } : undefined,
      labelSelector: parseLabels(values.label),
    };
    const nameMatches = patternTest(values.name, "--name");
    const namespaceMatches = patternTest(values.namespace, "--namespace");
    const { items } = await ctx.cri.runtime.listPodSandbox({ filter }, { signal: ctx.signal });
    const pods = newestFirst(
      items.filter(
        (p) =>
          p.metadata !== undefined && nameMatches(p.metadata.name) && namespaceMatches(p.metadata.namespace),
      ),
      values.latest === true,
      wholeNumber(values.last, "--last", 0),
    );
    if (values.quiet === true) {
      for (const p of pods) ctx.stdout.write(`${p.id}\n`);
      return;
    }
    if (format === "json") {
      writeJson(ctx.stdout, protoJson({ items: pods }, { state: podSandboxStateToJSON }));
      return;
    }
    const now = Date.now();
    const rows = pods.map((p) => [
      values["no-trunc"] === true ? p.id : truncateId(p.id),
      createdAgo(p.createdAt, now),
      podStateName(p.state),
      p.metadata?.name ?? "",
      p.metadata?.namespace ?? "",
      String(p.metadata?.attempt ?? 0),
      p.runtimeHandler === "" ? "(default)" : p.runtimeHandler,
    ]);
    ctx.stdout.write(
      criTable(["POD ID", "CREATED", "STATE", "NAME", "NAMESPACE", "ATTEMPT", "RUNTIME"], rows),
    );
  },
});
