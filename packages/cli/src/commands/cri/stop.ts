// berthctl cri stop: stop running containers (the stop signal, then SIGKILL after the
// timeout); prints each ID.

import { ContainerState } from "@berth/api/cri/runtime/v1/api";
import { UsageError, parseOptions } from "../../command.js";
import { type CriContext, criCommand, eachId, notFoundAs, requireIds, wholeNumber } from "./context.js";

export async function stopContainer(ctx: CriContext, id: string, timeout: number): Promise<void> {
  await ctx.cri.runtime
    .stopContainer({ containerId: id, timeout: BigInt(timeout) }, { signal: ctx.signal })
    .catch((err) => notFoundAs(err, `container ${id} not found: see 'berthctl cri ps -a'`));
}

export const stopCommand = criCommand({
  name: "stop",
  summary: "stop running containers",
  synopsis: "[-t SECONDS] [-a] CONTAINER-ID...",
  help: [
    "-t, --timeout N       seconds between the stop signal and SIGKILL (default 0: SIGKILL at once)",
    "-a, --all             every running container",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      { timeout: { type: "string", short: "t" }, all: { type: "boolean", short: "a" } },
      "cri stop",
    );
    const timeout = wholeNumber(values.timeout, "--timeout", 0);
    let ids: string[];
    if (values.all === true) {
      if (positionals.length > 0) throw new UsageError("cri stop -a takes no IDs: drop either -a or the IDs");
      const filter = {
        id: "",
        podSandboxId: "",
        state: { state: ContainerState.CONTAINER_RUNNING },
        labelSelector: {},
      };
      ids = (await ctx.cri.runtime.listContainers({ filter }, { signal: ctx.signal })).containers.map(
        (c) => c.id,
      );
      if (ids.length === 0) return;
    } else {
      ids = requireIds(positionals, "stop", "CONTAINER-ID");
    }
    await eachId(ctx, ids, async (id) => {
      await stopContainer(ctx, id, timeout);
      ctx.stdout.write(`${id}\n`);
    });
  },
});
