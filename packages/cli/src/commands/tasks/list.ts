// berthctl tasks ls: the tasks of the namespace, in ctr's columns.

import { listTasks, statusName } from "@berth/client/tasks/index";
import { type Command, parseOptions } from "../../command.js";
import { formatTable } from "../../format.js";

export const listCommand: Command = {
  name: "ls",
  aliases: ["list"],
  summary: "list tasks",
  synopsis: "[-q]",
  help: ["-q, --quiet           print only the task IDs"],
  async run(ctx, argv) {
    const { values } = parseOptions(argv, { quiet: { type: "boolean", short: "q" } }, "tasks ls");
    const tasks = await listTasks(ctx.connect(), { signal: ctx.signal });
    if (values.quiet === true) {
      for (const t of tasks) ctx.stdout.write(`${t.id}\n`);
      return;
    }
    const rows = tasks.map((t) => [t.id, String(t.pid), statusName(t.status)]);
    ctx.stdout.write(formatTable(["TASK", "PID", "STATUS"], rows, { padding: 4 }));
  },
};
