// berthctl cri rmp: remove pods (ready ones only with -f) and their containers.

import { PodSandboxState } from "@berth/api/cri/runtime/v1/api";
import { BerthError } from "@berth/client";
import { UsageError, parseOptions } from "../../command.js";
import { criCommand, eachId, notFoundAs, requireIds } from "./context.js";

export const rmpCommand = criCommand({
  name: "rmp",
  summary: "remove pods",
  synopsis: "[-f] [-a] POD-ID...",
  help: ["-f, --force           stop ready pods first", "-a, --all             every pod"],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      { force: { type: "boolean", short: "f" }, all: { type: "boolean", short: "a" } },
      "cri rmp",
    );
    let ids: string[];
    if (values.all === true) {
      if (positionals.length > 0) throw new UsageError("cri rmp -a takes no IDs: drop either -a or the IDs");
      ids = (await ctx.cri.runtime.listPodSandbox({}, { signal: ctx.signal })).items.map((p) => p.id);
      if (ids.length === 0) return;
    } else {
      ids = requireIds(positionals, "rmp", "POD-ID");
    }
    await eachId(ctx, ids, async (id) => {
      const notFound = (err: unknown) => notFoundAs(err, `pod ${id} not found: see 'berthctl cri pods'`);
      const { status } = await ctx.cri.runtime
        .podSandboxStatus({ podSandboxId: id, verbose: false }, { signal: ctx.signal })
        .catch(notFound);
      if (status?.state === PodSandboxState.SANDBOX_READY) {
        if (values.force !== true) {
          throw new BerthError(
            "FailedPrecondition",
            `pod ${id} is ready: stop it first ('berthctl cri stopp ${id}'), or pass -f`,
          );
        }
        await ctx.cri.runtime.stopPodSandbox({ podSandboxId: id }, { signal: ctx.signal }).catch(notFound);
        ctx.stdout.write(`Stopped sandbox ${id}\n`);
      }
      await ctx.cri.runtime.removePodSandbox({ podSandboxId: id }, { signal: ctx.signal }).catch(notFound);
      ctx.stdout.write(`Removed sandbox ${id}\n`);
    });
  },
});
