import type { CommandGroup } from "../../command.js";
import { execCommand } from "./exec.js";
import { killCommand } from "./kill.js";
import { listCommand } from "./list.js";
import { metricsCommand } from "./metrics.js";
import { pauseCommand } from "./pause.js";
import { psCommand } from "./ps.js";
import { removeCommand } from "./remove.js";
import { resumeCommand } from "./resume.js";

export const tasksGroup: CommandGroup = {
  name: "tasks",
  aliases: ["task", "t"],
  summary: "manage tasks (the running processes of containers)",
  commands: [
    listCommand,
    psCommand,
    execCommand,
    killCommand,
    pauseCommand,
    resumeCommand,
    removeCommand,
    metricsCommand,
  ],
};
