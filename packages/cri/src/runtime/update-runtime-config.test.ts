import assert from "node:assert/strict";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { defaultCriConfig } from "../config.js";
import { harness, rejectsWith } from "../testing/harness.js";
import { TEMPLATE_CONF_NAME, updateRuntimeConfig } from "./update-runtime-config.js";

const cidr = (podCidr: string) => ({
  runtimeConfig: { networkConfig: { podCidr } },
});

async function withTemplate(t: { after(fn: () => Promise<void>): void }) {
  const h = await harness(t);
  const confDir = join(h.cri.config.root, "net.d");
  const template = join(h.cri.config.root, "template.conflist");
  await mkdir(confDir, { recursive: true });
  await writeFile(template, '{"subnet": "{{.PodCIDR}}"}');
  Object.assign(h.cri.config, { cni: { ...defaultCriConfig.cni, confDir, confTemplate: template } });
  h.cni.state = { ready: false, reason: "NetworkPluginNotReady", message: "no network config found" };
  return { h, confDir, template };
}

test("the pod CIDR fills the CNI config template while no other config is there", async (t) => {
  const { h, confDir } = await withTemplate(t);
  await updateRuntimeConfig(h.cri, cidr("10.244.1.0/24,fd00::/64"));
  assert.equal(h.cri.podCidr, "10.244.1.0/24,fd00::/64");
  assert.equal(await readFile(join(confDir, TEMPLATE_CONF_NAME), "utf8"), '{"subnet": "10.244.1.0/24"}');
});

test("an operator's CNI config wins over the template; without a template the CIDR is only kept", async (t) => {
  const { h, confDir } = await withTemplate(t);
  h.cni.state = { ready: true, reason: "", message: "" };
  await updateRuntimeConfig(h.cri, cidr("10.244.2.0/24"));
  assert.deepEqual(await readdir(confDir), []);
  Object.assign(h.cri.config, { cni: { ...h.cri.config.cni, confTemplate: "" } });
  await updateRuntimeConfig(h.cri, cidr("10.244.3.0/24"));
  assert.equal(h.cri.podCidr, "10.244.3.0/24");
  await updateRuntimeConfig(h.cri, cidr(""));
  assert.equal(h.cri.podCidr, "10.244.3.0/24", "an empty CIDR changes nothing");
});

test("a template that cannot be read fails with FailedPrecondition naming it", async (t) => {
  const { h, template } = await withTemplate(t);
  Object.assign(h.cri.config, { cni: { ...h.cri.config.cni, confTemplate: `${template}.missing` } });
  await rejectsWith(
    updateRuntimeConfig(h.cri, cidr("10.244.4.0/24")),
    "FailedPrecondition",
    /cannot read cni.confTemplate .*template.conflist.missing/,
  );
});
