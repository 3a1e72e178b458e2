// berthctl cri inspecti: an image's status with the runtime's verbose information
// (chain ID, config…), as JSON in crictl's shape, or as a short table.

import { BerthError } from "@berth/client";
import { parseOptions } from "../../command.js";
import { criCommand, outputFormat, requireIds } from "./context.js";
import { humanSize } from "./format.js";
import { writeMap } from "./inspect.js";
import { protoJson, statusDocument, writeDocuments } from "./json.js";

export const inspectiCommand = criCommand({
  name: "inspecti",
  summary: "show images' status and the runtime's information about them",
  synopsis: "[-q] [-o json|table] IMAGE...",
  help: [
    "-q, --quiet           only the status, without the runtime's verbose information",
    '-o, --output FORMAT   "json" (default) or "table"',
    "IMAGE                 a reference (name:tag, name@digest) or an image ID",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      { quiet: { type: "boolean", short: "q" }, output: { type: "string", short: "o" } },
      "cri inspecti",
    );
    const format = outputFormat(values.output, ["json", "table"]);
    const refs = requireIds(positionals, "inspecti", "IMAGE");
    const verbose = values.quiet !== true;
    const docs: unknown[] = [];
    for (const ref of refs) {
      const r = await ctx.cri.images.imageStatus(
        { image: { image: ref, annotations: {} }, verbose },
        { signal: ctx.signal },
      );
      if (r.image === undefined) {
        throw new BerthError("NotFound", `no such image ${ref}: see 'berthctl cri images', or pull it first`);
      }
      if (format === "json") {
        docs.push(statusDocument(protoJson(r.image), r.info));
        continue;
      }
      ctx.stdout.write(`ID: ${r.image.id}\n`);
      for (const tag of r.image.repoTags) ctx.stdout.write(`Tag: ${tag}\n`);
      for (const digest of r.image.repoDigests) ctx.stdout.write(`Digest: ${digest}\n`);
      ctx.stdout.write(`Size: ${humanSize(r.image.size, 3)}\n`);
      if (verbose) writeMap(ctx.stdout, "Info", r.info);
    }
    if (format === "json") writeDocuments(ctx.stdout, docs);
  },
});
