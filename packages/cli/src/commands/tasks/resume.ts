// berthctl tasks resume: thaw a paused task.

import { type Command, parseOptions } from "../../command.js";
import { loadTask, singleId } from "./lookup.js";

export const resumeCommand: Command = {
  name: "resume",
  summary: "resume a paused task",
  synopsis: "ID",
  help: [],
  async run(ctx, argv) {
    const id = singleId(parseOptions(argv, {}, "tasks resume").positionals, "tasks resume");
    const conn = ctx.connect();
    await loadTask(conn, id, ctx.signal);
    await conn.tasks.resume({ containerId: id }, { signal: ctx.signal });
  },
};
