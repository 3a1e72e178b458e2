// Every command berthctl knows: groups (images, tasks, containers, cri) are a folder
// here with one file per command; a few commands (run) stand alone.

import type { Command, CommandGroup } from "../command.js";
import { containersGroup } from "./containers/index.js";
import { criGroup } from "./cri/index.js";
import { imagesGroup } from "./images/index.js";
import { infoCommand } from "./info.js";
import { runCommand } from "./run.js";
import { tasksGroup } from "./tasks/index.js";
import { versionCommand } from "./version.js";

export const topLevelCommands: readonly Command[] = [runCommand, infoCommand, versionCommand];

export const commandGroups: readonly CommandGroup[] = [imagesGroup, containersGroup, tasksGroup, criGroup];
