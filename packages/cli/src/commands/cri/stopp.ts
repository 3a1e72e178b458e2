// berthctl cri stopp: stop pods (their containers, then the sandbox and its network).

import { parseOptions } from "../../command.js";
import { criCommand, eachId, notFoundAs, requireIds } from "./context.js";

export const stoppCommand = criCommand({
  name: "stopp",
  summary: "stop pods",
  synopsis: "POD-ID...",
  help: [],
  async run(ctx, argv) {
    const { positionals } = parseOptions(argv, {}, "cri stopp");
    await eachId(ctx, requireIds(positionals, "stopp", "POD-ID"), async (id) => {
      await ctx.cri.runtime
        .stopPodSandbox({ podSandboxId: id }, { signal: ctx.signal })
        .catch((err) => notFoundAs(err, `pod ${id} not found: see 'berthctl cri pods'`));
      ctx.stdout.write(`Stopped sandbox ${id}\n`);
    });
  },
});
