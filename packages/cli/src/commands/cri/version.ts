// berthctl cri version: who answers on the CRI endpoint, in crictl's four lines.

import { parseOptions } from "../../command.js";
import { criCommand } from "./context.js";

export const versionCommand = criCommand({
  name: "version",
  summary: "show the runtime's name and version and the CRI version it speaks",
  synopsis: "",
  help: [],
  async run(ctx, argv) {
    parseOptions(argv, {}, "cri version");
    const v = await ctx.cri.runtime.version({ version: "v1" }, { signal: ctx.signal });
    // Go's Println puts a space between "Version: " and the value, hence two.
    ctx.stdout.write(
      `Version:  ${v.version}\nRuntimeName:  ${v.runtimeName}\nRuntimeVersion:  ${v.runtimeVersion}\nRuntimeApiVersion:  ${v.runtimeApiVersion}\n`,
    );
  },
});
