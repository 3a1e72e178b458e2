// berthctl cri inspect: a container's status with the runtime's verbose information
// (pid, sandbox, config…), as JSON in crictl's shape, or as a short table.

import {
  ContainerState,
  type ContainerStatus,
  type ContainerStatusResponse,
  containerStateToJSON,
  mountPropagationToJSON,
} from "@berth/api/cri/runtime/v1/api";
import type { Output } from "../../command.js";
import { parseOptions } from "../../command.js";
import { criCommand, notFoundAs, outputFormat, requireIds } from "./context.js";
import { createdAgo } from "./format.js";
import { protoJson, rfc3339Times, statusDocument, writeDocuments } from "./json.js";

/** The status as crictl prints it: protobuf JSON, times as RFC 3339 (zero until they happened). */
export function containerStatusJson(status: ContainerStatus, offsetMinutes?: number): unknown {
  const started = status.state !== ContainerState.CONTAINER_CREATED;
  const finished =
    status.state === ContainerState.CONTAINER_EXITED ||
    (status.state === ContainerState.CONTAINER_UNKNOWN && status.finishedAt > 0n);
  return rfc3339Times(
    protoJson(status, { state: containerStateToJSON, propagation: mountPropagationToJSON }),
    {
      createdAt: status.createdAt,
      startedAt: started ? status.startedAt : 0n,
      finishedAt: finished ? status.finishedAt : 0n,
    },
    offsetMinutes,
  );
}

/** "\tkey -> value" lines under a heading, sorted, when there are any. */
export function writeMap(out: Output, heading: string, map: Readonly<Record<string, string>>): void {
  const keys = Object.keys(map).sort();
  if (keys.length === 0) return;
  out.write(`${heading}:\n`);
  for (const k of keys) out.write(`\t${k} -> ${map[k]}\n`);
}

function writeTable(out: Output, r: ContainerStatusResponse, verbose: boolean): void {
  const s = r.status;
  if (s === undefined) return;
  const now = Date.now();
  out.write(`ID: ${s.id}\n`);
  if (s.metadata !== undefined) {
    if (s.metadata.name !== "") out.write(`Name: ${s.metadata.name}\n`);
    if (s.metadata.attempt !== 0) out.write(`Attempt: ${s.metadata.attempt}\n`);
  }
  out.write(`State: ${containerStateToJSON(s.state)}\n`);
  out.write(`Created: ${createdAgo(s.createdAt, now)}\n`);
  if (s.state !== ContainerState.CONTAINER_CREATED) out.write(`Started: ${createdAgo(s.startedAt, now)}\n`);
  if (s.state === ContainerState.CONTAINER_EXITED) {
    if (s.finishedAt > 0n) out.write(`Finished: ${createdAgo(s.finishedAt, now)}\n`);
    out.write(`Exit Code: ${s.exitCode}\n`);
  }
  writeMap(out, "Labels", s.labels);
  writeMap(out, "Annotations", s.annotations);
  if (verbose) writeMap(out, "Info", r.info);
}

export const inspectCommand = criCommand({
  name: "inspect",
  summary: "show containers' status and the runtime's information about them",
  synopsis: "[-q] [-o json|table] CONTAINER-ID...",
  help: [
    "-q, --quiet           only the status, without the runtime's verbose information",
    '-o, --output FORMAT   "json" (default) or "table"',
    "CONTAINER-ID          a whole ID or a unique prefix of one",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      { quiet: { type: "boolean", short: "q" }, output: { type: "string", short: "o" } },
      "cri inspect",
    );
    const format = outputFormat(values.output, ["json", "table"]);
    const ids = requireIds(positionals, "inspect", "CONTAINER-ID");
    const verbose = values.quiet !== true;
    const docs: unknown[] = [];
    for (const id of ids) {
      const r = await ctx.cri.runtime
        .containerStatus({ containerId: id, verbose }, { signal: ctx.signal })
        .catch((err) => notFoundAs(err, `container ${id} not found: see 'berthctl cri ps -a'`));
      if (format === "table") writeTable(ctx.stdout, r, verbose);
      else docs.push(statusDocument(r.status && containerStatusJson(r.status), r.info));
    }
    if (format === "json") writeDocuments(ctx.stdout, docs);
  },
});
