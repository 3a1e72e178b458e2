// berthctl cri start: start created containers; prints each ID.

import { parseOptions } from "../../command.js";
import { criCommand, eachId, notFoundAs, requireIds } from "./context.js";

export const startCommand = criCommand({
  name: "start",
  summary: "start created containers",
  synopsis: "CONTAINER-ID...",
  help: [],
  async run(ctx, argv) {
    const { positionals } = parseOptions(argv, {}, "cri start");
    await eachId(ctx, requireIds(positionals, "start", "CONTAINER-ID"), async (id) => {
      await ctx.cri.runtime
        .startContainer({ containerId: id }, { signal: ctx.signal })
        .catch((err) => notFoundAs(err, `container ${id} not found: see 'berthctl cri ps -a'`));
      ctx.stdout.write(`${id}\n`);
    });
  },
});
