// `berthctl cri [--runtime-endpoint SOCK] <command>`: crictl's common commands against
// a CRI v1 endpoint, one file per command. The endpoint option comes between "cri" and
// the command, as it comes before the command in crictl.

import type { CommandGroup } from "../../command.js";
import { UsageError } from "../../command.js";
import { CRI_ENDPOINT_ENV, DEFAULT_CRI_ENDPOINT, endpointPath } from "../../cri-client.js";
import { attachCommand } from "./attach.js";
import { createCommand } from "./create.js";
import { execCommand } from "./exec.js";
import { imageFsInfoCommand } from "./imagefsinfo.js";
import { imagesCommand } from "./images.js";
import { infoCommand } from "./info.js";
import { inspectCommand } from "./inspect.js";
import { inspectiCommand } from "./inspecti.js";
import { inspectpCommand } from "./inspectp.js";
import { logsCommand } from "./logs.js";
import { podsCommand } from "./pods.js";
import { portForwardCommand } from "./port-forward.js";
import { psCommand } from "./ps.js";
import { pullCommand } from "./pull.js";
import { rmCommand } from "./rm.js";
import { rmiCommand } from "./rmi.js";
import { rmpCommand } from "./rmp.js";
import { runpCommand } from "./runp.js";
import { startCommand } from "./start.js";
import { statsCommand } from "./stats.js";
import { statspCommand } from "./statsp.js";
import { stopCommand } from "./stop.js";
import { stoppCommand } from "./stopp.js";
import { versionCommand } from "./version.js";

export const criGroup: CommandGroup = {
  name: "cri",
  summary: "crictl-like commands against a CRI runtime (berth-cri)",
  commands: [
    versionCommand,
    infoCommand,
    podsCommand,
    inspectpCommand,
    runpCommand,
    stoppCommand,
    rmpCommand,
    statspCommand,
    psCommand,
    inspectCommand,
    createCommand,
    startCommand,
    stopCommand,
    rmCommand,
    logsCommand,
    execCommand,
    attachCommand,
    portForwardCommand,
    statsCommand,
    imagesCommand,
    inspectiCommand,
    pullCommand,
    rmiCommand,
    imageFsInfoCommand,
  ],
};

/** The lines describing the cri group's own option, for help texts. */
export const criOptionHelp = [
  `-r, --runtime-endpoint SOCK   CRI socket, a path or unix:///path (default ${DEFAULT_CRI_ENDPOINT},`,
  `                              env ${CRI_ENDPOINT_ENV})`,
];

/**
 * Splits `[--runtime-endpoint SOCK]` off the front of what follows "cri"; the endpoint
 * reaches the commands as BERTH_CRI_ENDPOINT in their environment.
 */
export function parseCriOptions(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): { env: Readonly<Record<string, string | undefined>>; rest: string[] } {
  let endpoint: string | undefined;
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq >= 0 ? arg.slice(0, eq) : arg;
    if (name !== "-r" && name !== "--runtime-endpoint") break;
    const value = eq >= 0 && arg.startsWith("--") ? arg.slice(eq + 1) : args[++i];
    if (value === undefined || value === "") {
      throw new UsageError(`${name} needs a socket: berthctl cri --runtime-endpoint SOCK <command>`);
    }
    endpointPath(value);
    endpoint = value;
  }
  return {
    env: endpoint !== undefined ? { ...env, [CRI_ENDPOINT_ENV]: endpoint } : env,
    rest: args.slice(i),
  };
}
