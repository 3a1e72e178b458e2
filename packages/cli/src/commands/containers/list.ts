// berthctl containers ls: container records, in ctr's columns.

import { listContainers } from "@berth/client/tasks/index";
import { type Command, parseOptions } from "../../command.js";
import { formatTable } from "../../format.js";

export const listCommand: Command = {
  name: "ls",
  aliases: ["list"],
  summary: "list containers",
  synopsis: "[-q] [FILTER...]",
  help: [
    "-q, --quiet           print only the container IDs",
    "FILTER                containerd filters, e.g. image~=busybox or labels.app==web",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      { quiet: { type: "boolean", short: "q" } },
      "containers ls",
    );
    const containers = await listContainers(ctx.connect(), positionals, { signal: ctx.signal });
    if (values.quiet === true) {
      for (const c of containers) ctx.stdout.write(`${c.id}\n`);
      return;
    }
    const rows = containers.map((c) => [c.id, c.image !== "" ? c.image : "-", c.runtime?.name ?? ""]);
    ctx.stdout.write(formatTable(["CONTAINER", "IMAGE", "RUNTIME"], rows, { padding: 4 }));
  },
};
