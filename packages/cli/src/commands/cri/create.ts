// berthctl cri create: create a container in a pod from a container config and the pod's
// config; prints its ID.

import { UsageError, parseOptions } from "../../command.js";
import { runtimeDetails } from "../../cri-client.js";
import { loadContainerConfig, loadPodSandboxConfig } from "./config.js";
import { criCommand, notFoundAs, warnConfig } from "./context.js";
import { pullAuth, pullImage } from "./pull.js";

export const createCommand = criCommand({
  name: "create",
  summary: "create a container in a pod from a container config (JSON or YAML)",
  synopsis: "[--with-pull] POD-ID CONTAINER-CONFIG POD-CONFIG",
  help: [
    "--with-pull           pull the container's image first",
    "--creds USER[:PASS]   credentials for that pull",
    "CONTAINER-CONFIG      a ContainerConfig as JSON or YAML, as crictl takes, e.g.",
    "                        metadata: {name: app}",
    "                        image: {image: busybox}",
    "                        command: [sh, -c, 'echo hi; sleep 3600']",
    "                        log_path: app/0.log",
    "                      stdin: true (with stdin_once, tty) for 'berthctl cri attach -i'",
    "POD-CONFIG            the config the pod was run with (see 'berthctl cri runp --help')",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      { "with-pull": { type: "boolean" }, creds: { type: "string" } },
      "cri create",
    );
    if (positionals.length !== 3) {
      throw new UsageError(
        `cri create takes a pod ID and two config files, got ${positionals.length} argument(s): berthctl cri create POD-ID CONTAINER-CONFIG POD-CONFIG`,
      );
    }
    const [podId = "", containerPath = "", podPath = ""] = positionals;
    const container = await loadContainerConfig(containerPath);
    warnConfig(ctx, containerPath, container.warnings);
    const pod = await loadPodSandboxConfig(podPath);
    warnConfig(ctx, podPath, pod.warnings);
    if (values["with-pull"] === true) {
      const auth = pullAuth(values.creds, undefined);
      await pullImage(ctx, container.config.image?.image ?? "", {
        ...(auth !== undefined ? { auth } : {}),
        sandboxConfig: pod.config,
        annotations: container.config.image?.annotations ?? {},
      });
    }
    const r = await ctx.cri.runtime
      .createContainer(
        { podSandboxId: podId, config: container.config, sandboxConfig: pod.config },
        { signal: ctx.signal },
      )
      .catch((err) =>
        notFoundAs(
          err,
          `cannot create the container: ${runtimeDetails(err)}: check the pod ID ('berthctl cri pods') and the image ('berthctl cri images', or pass --with-pull)`,
        ),
      );
    ctx.stdout.write(`${r.containerId}\n`);
  },
});
