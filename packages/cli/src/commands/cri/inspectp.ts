// berthctl cri inspectp: a pod's status with the runtime's verbose information (pid,
// network namespace, config…), as JSON in crictl's shape, or as a short table.

import {
  type PodSandboxStatus,
  type PodSandboxStatusResponse,
  namespaceModeToJSON,
  podSandboxStateToJSON,
} from "@berth/api/cri/runtime/v1/api";
import type { Output } from "../../command.js";
import { parseOptions } from "../../command.js";
import { criCommand, notFoundAs, outputFormat, requireIds } from "./context.js";
import { rfc3339Nano } from "./format.js";
import { writeMap } from "./inspect.js";
import { protoJson, rfc3339Times, statusDocument, writeDocuments } from "./json.js";

/** The status as crictl prints it: protobuf JSON, its creation time as RFC 3339. */
export function podStatusJson(status: PodSandboxStatus, offsetMinutes?: number): unknown {
  return rfc3339Times(
    protoJson(status, {
      state: podSandboxStateToJSON,
      network: namespaceModeToJSON,
      pid: namespaceModeToJSON,
      ipc: namespaceModeToJSON,
      mode: namespaceModeToJSON,
    }),
    { createdAt: status.createdAt },
    offsetMinutes,
  );
}

function writeTable(out: Output, r: PodSandboxStatusResponse, verbose: boolean): void {
  const s = r.status;
  if (s === undefined) return;
  out.write(`ID: ${s.id}\n`);
  if (s.metadata !== undefined) {
    if (s.metadata.name !== "") out.write(`Name: ${s.metadata.name}\n`);
    if (s.metadata.uid !== "") out.write(`UID: ${s.metadata.uid}\n`);
    if (s.metadata.namespace !== "") out.write(`Namespace: ${s.metadata.namespace}\n`);
    out.write(`Attempt: ${s.metadata.attempt}\n`);
  }
  out.write(`Status: ${podSandboxStateToJSON(s.state)}\n`);
  out.write(`Created: ${rfc3339Nano(s.createdAt)}\n`);
  if (s.network !== undefined) {
    out.write(`IP Addresses: ${s.network.ip}\n`);
    for (const ip of s.network.additionalIps) out.write(`Additional IP: ${ip.ip}\n`);
  }
  writeMap(out, "Labels", s.labels);
  writeMap(out, "Annotations", s.annotations);
  if (verbose) writeMap(out, "Info", r.info);
}

export const inspectpCommand = criCommand({
  name: "inspectp",
  summary: "show pods' status and the runtime's information about them",
  synopsis: "[-q] [-o json|table] POD-ID...",
  help: [
    "-q, --quiet           only the status, without the runtime's verbose information",
    '-o, --output FORMAT   "json" (default) or "table"',
    "POD-ID                a whole ID or a unique prefix of one",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      { quiet: { type: "boolean", short: "q" }, output: { type: "string", short: "o" } },
      "cri inspectp",
    );
    const format = outputFormat(values.output, ["json", "table"]);
    const ids = requireIds(positionals, "inspectp", "POD-ID");
    const verbose = values.quiet !== true;
    const docs: unknown[] = [];
    for (const id of ids) {
      const r = await ctx.cri.runtime
        .podSandboxStatus({ podSandboxId: id, verbose }, { signal: ctx.signal })
        .catch((err) => notFoundAs(err, `pod ${id} not found: see 'berthctl cri pods'`));
      if (format === "table") writeTable(ctx.stdout, r, verbose);
      else docs.push(statusDocument(r.status && podStatusJson(r.status), r.info));
    }
    if (format === "json") writeDocuments(ctx.stdout, docs);
  },
});
