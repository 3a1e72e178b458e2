// Every command group berthctl knows. A new group (run, tasks, cri …) is a folder here
// with one file per command, added to this list.

import type { CommandGroup } from "../command.js";
import { imagesGroup } from "./images/index.js";

export const commandGroups: readonly CommandGroup[] = [imagesGroup];
