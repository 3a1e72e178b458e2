// berthctl cri runp: start a pod sandbox from a pod config file; prints its ID.

import { parseOptions } from "../../command.js";
import { loadPodSandboxConfig } from "./config.js";
import { criCommand, requireOneId, warnConfig } from "./context.js";

export const runpCommand = criCommand({
  name: "runp",
  summary: "run a pod from a pod config (JSON or YAML)",
  synopsis: "[-r RUNTIME] POD-CONFIG",
  help: [
    "-r, --runtime NAME    the runtime handler (default: the runtime's default)",
    "POD-CONFIG            a PodSandboxConfig as JSON or YAML, as crictl takes, e.g.",
    "                        metadata: {name: web, namespace: default, uid: web-1}",
    "                        log_directory: /var/log/pods/web",
    "                        linux: {}",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      { runtime: { type: "string", short: "r" } },
      "cri runp",
    );
    const path = requireOneId(positionals, "runp", "POD-CONFIG");
    const { config, warnings } = await loadPodSandboxConfig(path);
    warnConfig(ctx, path, warnings);
    const r = await ctx.cri.runtime.runPodSandbox(
      { config, runtimeHandler: values.runtime ?? "" },
      { signal: ctx.signal },
    );
    ctx.stdout.write(`${r.podSandboxId}\n`);
  },
});
