import type { CommandGroup } from "../../command.js";
import { listCommand } from "./list.js";
import { removeCommand } from "./remove.js";

export const containersGroup: CommandGroup = {
  name: "containers",
  aliases: ["container", "c"],
  summary: "manage containers",
  commands: [listCommand, removeCommand],
};
