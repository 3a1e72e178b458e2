import type { CommandGroup } from "../../command.js";
import { listCommand } from "./list.js";
import { pullCommand } from "./pull.js";
import { removeCommand } from "./remove.js";

export const imagesGroup: CommandGroup = {
  name: "images",
  aliases: ["image", "i"],
  summary: "manage images",
  commands: [pullCommand, listCommand, removeCommand],
};
