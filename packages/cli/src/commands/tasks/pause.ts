// berthctl tasks pause: freeze every process of a task (the cgroup freezer).

import { type Command, parseOptions } from "../../command.js";
import { loadTask, singleId } from "./lookup.js";

export const pauseCommand: Command = {
  name: "pause",
  summary: "pause a task's processes",
  synopsis: "ID",
  help: [],
  async run(ctx, argv) {
    const id = singleId(parseOptions(argv, {}, "tasks pause").positionals, "tasks pause");
    const conn = ctx.connect();
    await loadTask(conn, id, ctx.signal);
    await conn.tasks.pause({ containerId: id }, { signal: ctx.signal });
  },
};
