// berthctl cri info: the runtime's conditions (RuntimeReady, NetworkReady) and, unless
// -q, its verbose information (berth-cri: its configuration), as JSON.

import { parseOptions } from "../../command.js";
import { criCommand, outputFormat } from "./context.js";
import { protoJson, statusDocument, writeJson } from "./json.js";

export const infoCommand = criCommand({
  name: "info",
  summary: "show the runtime's status and configuration as JSON",
  synopsis: "[-q] [-o json]",
  help: [
    "-q, --quiet           only the status, without the runtime's verbose information",
    "-o, --output json     output format (only json)",
  ],
  async run(ctx, argv) {
    const { values } = parseOptions(
      argv,
      { quiet: { type: "boolean", short: "q" }, output: { type: "string", short: "o" } },
      "cri info",
    );
    outputFormat(values.output, ["json"]);
    const r = await ctx.cri.runtime.status({ verbose: values.quiet !== true }, { signal: ctx.signal });
    writeJson(ctx.stdout, statusDocument(protoJson(r.status), r.info));
  },
});
