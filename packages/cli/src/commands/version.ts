// berthctl version: the client's version and revision, then the daemon's (its Version
// RPC), in ctr version's layout.

import { buildInfo } from "@berth/client/build-info";
import { type Command, parseOptions } from "../command.js";

export const versionCommand: Command = {
  name: "version",
  summary: "show berthctl's version and the daemon's",
  synopsis: "",
  help: [],
  async run(ctx, argv) {
    parseOptions(argv, {}, "version");
    const client = buildInfo();
    ctx.stdout.write(
      `Client:\n  Version:  ${client.version}\n  Revision: ${client.revision}\n  Node version: ${process.version}\n\n`,
    );
    const server = await ctx.connect().version.version({}, { signal: ctx.signal });
    ctx.stdout.write(`Server:\n  Version:  ${server.version}\n  Revision: ${server.revision}\n`);
  },
};
