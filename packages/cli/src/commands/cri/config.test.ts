import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { MountPropagation, NamespaceMode, Protocol } from "@berth/api/cri/runtime/v1/api";
import {
  containerConfigFrom,
  loadContainerConfig,
  loadPodSandboxConfig,
  parseConfigText,
  podSandboxConfigFrom,
  unknownFields,
} from "./config.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "berthctl-cri-config-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("crictl's snake_case pod config, in YAML, with enums as numbers", async () => {
  const path = join(dir, "pod.yaml");
  await writeFile(
    path,
    `metadata:
  name: web
  namespace: default
  uid: web-uid
  attempt: 1
log_directory: /tmp/pods
dns_config:
  servers: [10.0.0.10]
port_mappings:
  - {protocol: 1, container_port: 53, host_port: 5353}
labels:
  app: web
  my_label: "1"
linux:
  cgroup_parent: /k8s
  sysctls: {net.ipv4.ip_forward: "1"}
  security_context:
    namespace_options:
      network: 2
    run_as_user: {value: 1000}
    supplemental_groups: [1, 2]
  resources: {memory_limit_in_bytes: 9223372036854775807}
`,
  );
  const { config, warnings } = await loadPodSandboxConfig(path);
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.metadata, { name: "web", namespace: "default", uid: "web-uid", attempt: 1 });
  assert.equal(config.logDirectory, "/tmp/pods");
  assert.deepEqual(config.dnsConfig?.servers, ["10.0.0.10"]);
  assert.deepEqual(config.portMappings, [
    { protocol: Protocol.UDP, containerPort: 53, hostPort: 5353, hostIp: "" },
  ]);
  assert.deepEqual(config.labels, { app: "web", my_label: "1" });
  assert.equal(config.linux?.cgroupParent, "/k8s");
  assert.deepEqual(config.linux?.sysctls, { "net.ipv4.ip_forward": "1" });
  assert.equal(config.linux?.securityContext?.namespaceOptions?.network, NamespaceMode.NODE);
  assert.equal(config.linux?.securityContext?.runAsUser?.value, 1000n);
  assert.deepEqual(config.linux?.securityContext?.supplementalGroups, [1n, 2n]);
  assert.equal(config.linux?.resources?.memoryLimitInBytes, 9223372036854775807n, "exact beyond 2^53");
});

test("camelCase keys and enum names work too; JSON files are JSON", async () => {
  const path = join(dir, "container.json");
  await writeFile(
    path,
    JSON.stringify({
      metadata: { name: "app" },
      image: { image: "busybox" },
      command: ["sh", "-c", "echo hi"],
      envs: [{ key: "A", value: "1" }],
      mounts: [{ containerPath: "/data", hostPath: "/srv", propagation: "PROPAGATION_HOST_TO_CONTAINER" }],
      logPath: "app/0.log",
      linux: { resources: { cpuShares: 512 } },
    }),
  );
  const { config, warnings } = await loadContainerConfig(path);
  assert.deepEqual(warnings, []);
  assert.equal(config.metadata?.name, "app");
  assert.equal(config.image?.image, "busybox");
  assert.deepEqual(config.command, ["sh", "-c", "echo hi"]);
  assert.deepEqual(config.envs, [{ key: "A", value: "1" }]);
  assert.equal(config.mounts[0]?.propagation, MountPropagation.PROPAGATION_HOST_TO_CONTAINER);
  assert.equal(config.logPath, "app/0.log");
  assert.equal(config.linux?.resources?.cpuShares, 512n);
});

test("what crictl requires: metadata with name and namespace (a uid is made up), an image", () => {
  const pod = podSandboxConfigFrom({ metadata: { name: "p", namespace: "ns" } }, "pod.yaml");
  assert.match(pod.config.metadata?.uid ?? "", /^[0-9a-f-]{36}$/);
  assert.throws(() => podSandboxConfigFrom({ hostname: "x" }, "pod.yaml"), {
    message: "no metadata in pod.yaml: a pod config needs metadata: {name: N, namespace: NS}",
  });
  assert.throws(
    () => podSandboxConfigFrom({ metadata: { name: "p" } }, "pod.yaml"),
    /no metadata.name or metadata.namespace in pod.yaml/,
  );
  assert.throws(
    () => podSandboxConfigFrom(["a"], "pod.yaml"),
    /no pod config \(the document is not a mapping\)/,
  );
  assert.throws(
    () => containerConfigFrom({ metadata: { name: "c" } }, "c.yaml"),
    /no image.image in c.yaml: a container config needs image: \{image: REF\}/,
  );
  assert.throws(() => containerConfigFrom({ image: { image: "i" } }, "c.yaml"), /no metadata.name in c.yaml/);
  assert.throws(
    () =>
      containerConfigFrom(
        { metadata: { name: "c" }, image: { image: "i" }, linux: { resources: { cpu_shares: "lots" } } },
        "c.yaml",
      ),
    /a value of the wrong type \(Cannot convert lots to a BigInt\) in c.yaml/,
  );
});

test("misspelt fields are reported, wherever they are; map keys are not fields", () => {
  const doc = {
    metadata: { name: "p", namespace: "ns", uuid: "x" },
    log_dir: "/tmp",
    labels: { anything_goes: "1" },
    port_mappings: [{ container_port: 80, hostport: 8080 }],
    linux: { security_context: { run_as_usr: { value: 1 } } },
  };
  const { warnings } = podSandboxConfigFrom(doc, "pod.yaml");
  assert.deepEqual(warnings, [
    "unknown field metadata.uuid",
    "unknown field log_dir",
    "unknown field port_mappings[0].hostport",
    "unknown field linux.security_context.run_as_usr",
  ]);
  assert.deepEqual(unknownFields({ a: 1 }, { a: 2 }), []);
});

test("unreadable and malformed files are named with what to do", async () => {
  await assert.rejects(loadPodSandboxConfig(join(dir, "missing.yaml")), {
    message: `cannot read the pod config ${join(dir, "missing.yaml")} (ENOENT): check the path`,
  });
  assert.throws(
    () => parseConfigText("{ nope", "x.json"),
    /^BerthError: invalid JSON \(.*\) in x.json: fix the file/,
  );
  assert.throws(
    () => parseConfigText("a: [1", "x.yaml"),
    /invalid YAML \(line 1: unterminated.*\) in x.yaml/,
  );
});

test("stdin, stdin_once and tty, for containers to attach to", () => {
  const doc = parseConfigText(
    "metadata: {name: c}\nimage: {image: busybox}\nstdin: true\nstdin_once: true\ntty: true\n",
    "c.yaml",
  );
  const { config, warnings } = containerConfigFrom(doc, "c.yaml");
  assert.deepEqual([config.stdin, config.stdinOnce, config.tty], [true, true, true]);
  assert.deepEqual(warnings, []);
});
