import type { CommandGroup } from "../../command.js";
import { exportCommand } from "./export.js";
import { importCommand } from "./import.js";
import { listCommand } from "./list.js";
import { pullCommand } from "./pull.js";
import { pushCommand } from "./push.js";
import { removeCommand } from "./remove.js";
import { tagCommand } from "./tag.js";

export const imagesGroup: CommandGroup = {
  name: "images",
  aliases: ["image", "i"],
  summary: "manage images",
  commands: [pullCommand, listCommand, removeCommand, tagCommand, pushCommand, importCommand, exportCommand],
};
