// berthctl cri ps: the containers (running ones unless -a), newest first, in crictl's columns.

import { type ContainerFilter, ContainerState, containerStateToJSON } from "@berth/api/cri/runtime/v1/api";
import { UsageError, parseOptions } from "../../command.js";
import { criCommand, outputFormat, wholeNumber } from "./context.js";
import { containerStateName, createdAgo, criTable, parseLabels, truncateId } from "./format.js";
import { protoJson, writeJson } from "./json.js";
import { newestFirst, patternTest } from "./selection.js";

const POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace";

/** --state for containers: created, running, exited or unknown, in any case. */
export function containerStateFilter(state: string | undefined): ContainerState | undefined {
  if (state === undefined || state === "") return undefined;
  switch (state.toLowerCase()) {
    case "created":
      return ContainerState.CONTAINER_CREATED;
    case "running":
      return ContainerState.CONTAINER_RUNNING;
    case "exited":
      return ContainerState.CONTAINER_EXITED;
    case "unknown":
      return ContainerState.CONTAINER_UNKNOWN;
    default:
      throw new UsageError(
        `unknown container state ${JSON.stringify(state)}: use --state created, running, exited or unknown`,
      );
  }
}

/** An image shown by ID ("sha256:…") is cut to 13 hex digits, as crictl does. */
export function shortImage(image: string): string {
  const m = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-fA-F0-9]{32,})$/.exec(image);
  return m === null ? image : truncateId(m[2]!);
}

export const psCommand = criCommand({
  name: "ps",
  summary: "list containers",
  synopsis: "[-a] [--pod ID] [--name RE] [--state S] [--label K=V] [-q] [-o table|json]",
  help: [
    "-a, --all             all containers (default: only running ones)",
    "--id ID               only the container with this ID",
    "-p, --pod ID          only the containers of this pod",
    "--name RE             only containers whose name matches this regular expression",
    "--namespace RE        only containers whose pod namespace matches this regular expression",
    "-s, --state STATE     only created, running, exited or unknown containers",
    "--label K=V           only containers with this label (repeatable)",
    "-l, --latest          only the newest container (of any state)",
    "-n, --last N          only the N newest containers (of any state)",
    "-q, --quiet           print only the container IDs",
    '-o, --output FORMAT   "table" (default) or "json"',
    "--no-trunc            print whole IDs",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      {
        all: { type: "boolean", short: "a" },
        id: { type: "string" },
        pod: { type: "string", short: "p" },
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
      "cri ps",
    );
    if (positionals.length > 0) {
      throw new UsageError(
        `cri ps takes no arguments, got ${JSON.stringify(positionals[0])}: filter with --name`,
      );
    }
    const format = outputFormat(values.output, ["table", "json"]);
    const last = wholeNumber(values.last, "--last", 0);
    const latest = values.latest === true;
    let state = containerStateFilter(values.state);
    if (state === undefined && values.all !== true) state = ContainerState.CONTAINER_RUNNING;
    // --latest and --last look at containers of any state.
    if (latest || last > 0) state = undefined;
    const filter: ContainerFilter = {
      id: values.id ?? "",
      podSandboxId: values.pod ?? "",
      state: state !== undefined ? { state } : undefined,
      labelSelector: parseLabels(values.label),
    };
    const nameMatches = patternTest(values.name, "--name");
    const namespaceMatches = patternTest(values.namespace, "--namespace");
    const { containers: all } = await ctx.cri.runtime.listContainers({ filter }, { signal: ctx.signal });
    const containers = newestFirst(
      all.filter(
        (c) =>
          c.metadata !== undefined &&
          nameMatches(c.metadata.name) &&
          namespaceMatches(c.labels[POD_NAMESPACE_LABEL] ?? "unknown"),
      ),
      latest,
      last,
    );
    if (values.quiet === true) {
      for (const c of containers) ctx.stdout.write(`${c.id}\n`);
      return;
    }
    if (format === "json") {
      writeJson(ctx.stdout, protoJson({ containers }, { state: containerStateToJSON }));
      return;
    }
    const whole = values["no-trunc"] === true;
    const now = Date.now();
    const rows = containers.map((c) => [
      whole ? c.id : truncateId(c.id),
      whole ? (c.image?.image ?? "") : shortImage(c.image?.image ?? ""),
      createdAgo(c.createdAt, now),
      containerStateName(c.state),
      c.metadata?.name ?? "",
      String(c.metadata?.attempt ?? 0),
      whole ? c.podSandboxId : truncateId(c.podSandboxId),
    ]);
    ctx.stdout.write(criTable(["CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID"], rows));
  },
});
