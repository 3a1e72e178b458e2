// UpdateRuntimeConfig: kubelet sends the node's pod CIDR. With `cni.confTemplate` set,
// the template is written into the CNI config dir with {{.PodCIDR}} filled in (as
// containerd's conf_template does); otherwise the CIDR is only remembered.
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { UpdateRuntimeConfigRequest, UpdateRuntimeConfigResponse } from "@berth/api/cri/runtime/v1/api";
import { failedPrecondition } from "@berth/client";
import type { Cri } from "../cri.js";

export const TEMPLATE_CONF_NAME = "10-berth-net.conflist";

export async function updateRuntimeConfig(
  cri: Cri,
  req: UpdateRuntimeConfigRequest,
): Promise<UpdateRuntimeConfigResponse> {
  const cidr = req.runtimeConfig?.networkConfig?.podCidr ?? "";
  if (cidr === "" || cidr === cri.podCidr) return {};
  cri.podCidr = cidr;
  cri.log.info("pod CIDR updated", { podCidr: cidr });
  const template = cri.config.cni.confTemplate;
  if (template === "") return {};
  if ((await cri.cni.status()).ready) return {}; // an operator's config wins over the template
  let text: string;
  try {
    text = await readFile(template, "utf8");
  } catch (err) {
    throw failedPrecondition(`cannot read cni.confTemplate ${template}: ${(err as Error).message}`);
  }
  const first = cidr.split(",")[0]?.trim() ?? cidr;
  const out = join(cri.config.cni.confDir, TEMPLATE_CONF_NAME);
  await writeFile(`${out}.tmp`, text.replaceAll("{{.PodCIDR}}", first), { mode: 0o644 });
  await rename(`${out}.tmp`, out);
  return {};
}
