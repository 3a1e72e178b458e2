// berthctl cri pull: have the runtime pull an image (with its registry settings), with
// a dot a second on a terminal while it works, then crictl's closing line.

import type { AuthConfig, PodSandboxConfig } from "@berth/api/cri/runtime/v1/api";
import { UsageError, parseOptions } from "../../command.js";
import { loadPodSandboxConfig } from "./config.js";
import { type CriContext, criCommand, requireOneId, warnConfig } from "./context.js";
import { parseLabels } from "./format.js";

/** --creds USER[:PASSWORD] and --auth BASE64 as CRI's AuthConfig. */
export function pullAuth(creds: string | undefined, auth: string | undefined): AuthConfig | undefined {
  if (creds !== undefined && auth !== undefined) {
    throw new UsageError("--creds and --auth cannot be used together: pick one");
  }
  const base = {
    username: "",
    password: "",
    auth: "",
    serverAddress: "",
    identityToken: "",
    registryToken: "",
  };
  if (auth !== undefined) return { ...base, auth };
  if (creds === undefined) return undefined;
  const colon = creds.indexOf(":");
  const username = colon < 0 ? creds : creds.slice(0, colon);
  if (username === "") throw new UsageError("--creds needs a user name: --creds USER:PASSWORD");
  return { ...base, username, password: colon < 0 ? "" : creds.slice(colon + 1) };
}

/** Pulls `image`, drawing dots on a terminal meanwhile; resolves to the image's reference. */
export async function pullImage(
  ctx: CriContext,
  image: string,
  options: { auth?: AuthConfig; sandboxConfig?: PodSandboxConfig; annotations?: Record<string, string> } = {},
): Promise<string> {
  const live = ctx.stderr.isTTY === true;
  let timer: NodeJS.Timeout | undefined;
  if (live) {
    ctx.stderr.write(`Pulling ${image} `);
    timer = setInterval(() => ctx.stderr.write("."), 1000);
  }
  try {
    const r = await ctx.cri.images.pullImage(
      {
        image: { image, annotations: options.annotations ?? {} },
        auth: options.auth,
        sandboxConfig: options.sandboxConfig,
      },
      { signal: ctx.signal },
    );
    return r.imageRef;
  } finally {
    if (timer !== undefined) clearInterval(timer);
    if (live) ctx.stderr.write("\n");
  }
}

export const pullCommand = criCommand({
  name: "pull",
  summary: "pull an image from its registry",
  synopsis: "[--creds USER:PASS] [--auth AUTH] [--pod-config FILE] IMAGE",
  help: [
    "--creds USER[:PASS]   credentials for the registry",
    "--auth AUTH           the same, as base64 of USER:PASS",
    "--pod-config FILE     the pod the image is for (JSON or YAML), for runtimes that care",
    "-a, --annotation K=V  an annotation for the pull (repeatable)",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      {
        creds: { type: "string" },
        auth: { type: "string" },
        "pod-config": { type: "string" },
        annotation: { type: "string", short: "a", multiple: true },
      },
      "cri pull",
    );
    const image = requireOneId(positionals, "pull", "IMAGE");
    const auth = pullAuth(values.creds, values.auth);
    const annotations = parseLabels(values.annotation, "--annotation");
    let sandboxConfig: PodSandboxConfig | undefined;
    if (values["pod-config"] !== undefined) {
      const loaded = await loadPodSandboxConfig(values["pod-config"]);
      warnConfig(ctx, values["pod-config"], loaded.warnings);
      sandboxConfig = loaded.config;
    }
    const ref = await pullImage(ctx, image, {
      ...(auth !== undefined ? { auth } : {}),
      ...(sandboxConfig !== undefined ? { sandboxConfig } : {}),
      annotations,
    });
    ctx.stdout.write(`Image is up to date for ${ref}\n`);
  },
});
