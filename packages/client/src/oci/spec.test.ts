import assert from "node:assert/strict";
import { test } from "node:test";
import { capabilitiesFromMask, capabilityName } from "./capabilities.js";
import { clampOomScoreAdj } from "./oom-score-adj.js";
import { defaultCapabilities, defaultUnixSpec, mergeEnv, removeNamespace, setNamespace } from "./spec.js";

test("the default spec", () => {
  const spec = defaultUnixSpec("c1", "k8s.io");
  assert.equal(spec.ociVersion, "1.0.2-dev");
  assert.deepEqual(spec.root, { path: "rootfs" });
  assert.deepEqual(spec.process.user, { uid: 0, gid: 0 });
  assert.equal(spec.process.cwd, "/");
  assert.equal(spec.process.noNewPrivileges, true);
  assert.deepEqual(spec.process.rlimits, [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }]);
  assert.equal(spec.linux.cgroupsPath, "/k8s.io/c1");
  assert.equal(defaultUnixSpec("c1").linux.cgroupsPath, "/default/c1");
  assert.deepEqual(
    spec.linux.namespaces.map((n) => n.type),
    ["pid", "ipc", "uts", "mount", "network"],
  );
  assert.deepEqual(
    spec.mounts.map((m) => `${m.destination}:${m.type}`),
    [
      "/proc:proc",
      "/dev:tmpfs",
      "/dev/pts:devpts",
      "/dev/shm:tmpfs",
      "/dev/mqueue:mqueue",
      "/sys:sysfs",
      "/sys/fs/cgroup:cgroup",
    ],
  );
  assert.ok(spec.mounts.find((m) => m.destination === "/sys")?.options?.includes("ro"));
  assert.ok(spec.linux.maskedPaths?.includes("/proc/kcore"));
  assert.ok(spec.linux.readonlyPaths?.includes("/proc/sys"));
});

test("default capabilities are containerd's fourteen", () => {
  const caps = defaultCapabilities();
  assert.equal(caps.length, 14);
  const spec = defaultUnixSpec("c1");
  assert.deepEqual(spec.process.capabilities?.bounding, caps);
  assert.deepEqual(spec.process.capabilities?.effective, caps);
  assert.deepEqual(spec.process.capabilities?.permitted, caps);
  assert.equal(caps.includes("CAP_SYS_ADMIN"), false);
  assert.equal(caps.includes("CAP_NET_RAW"), true);
});

test("device rules deny everything but the standard nodes", () => {
  const rules = defaultUnixSpec("c1").linux.resources?.devices ?? [];
  assert.deepEqual(rules[0], { allow: false, access: "rwm" });
  const allowed = rules.slice(1).map((r) => `${r.type} ${r.major}:${r.minor ?? "*"}`);
  assert.deepEqual(allowed, [
    "c 1:3",
    "c 1:8",
    "c 1:7",
    "c 5:0",
    "c 1:5",
    "c 1:9",
    "c 5:1",
    "c 136:*",
    "c 5:2",
  ]);
});

test("the default spec is a fresh copy each time", () => {
  const a = defaultUnixSpec("a");
  a.process.capabilities?.bounding?.push("CAP_SYS_ADMIN");
  a.mounts.pop();
  const b = defaultUnixSpec("b");
  assert.equal(b.process.capabilities?.bounding?.includes("CAP_SYS_ADMIN"), false);
  assert.equal(b.mounts.length, 7);
});

test("namespaces are replaced or removed by type", () => {
  const spec = defaultUnixSpec("c1");
  setNamespace(spec, { type: "network", path: "/var/run/netns/cni-1" });
  setNamespace(spec, { type: "cgroup" });
  removeNamespace(spec, "ipc");
  assert.deepEqual(spec.linux.namespaces, [
    { type: "pid" },
    { type: "uts" },
    { type: "mount" },
    { type: "network", path: "/var/run/netns/cni-1" },
    { type: "cgroup" },
  ]);
});

test("env merging: later entries win by key, in place; a bare key unsets", () => {
  const cases: Array<[base: string[], overrides: string[], want: string[]]> = [
    [[], ["A=1", "B=2"], ["A=1", "B=2"]],
    [["PATH=/bin"], ["PATH=/usr/bin", "A=1"], ["PATH=/usr/bin", "A=1"]],
    [["A=1", "B=2"], ["A=3"], ["A=3", "B=2"]],
    [[], ["A=1", "B=2", "A=3"], ["A=3", "B=2"]],
    [["A=1", "B=2"], ["A"], ["B=2"]],
    [["A=1"], ["C"], ["A=1"]],
    [[], ["A=x=y", "EMPTY="], ["A=x=y", "EMPTY="]],
  ];
  for (const [base, overrides, want] of cases) {
    assert.deepEqual(mergeEnv(base, overrides), want, `${base} + ${overrides}`);
  }
});

test("capability names with or without CAP_, in any case", () => {
  assert.equal(capabilityName("net_admin", "add_capabilities"), "CAP_NET_ADMIN");
  assert.equal(capabilityName("CAP_SYS_ADMIN", "add_capabilities"), "CAP_SYS_ADMIN");
  assert.equal(capabilityName("cap_chown", "drop_capabilities"), "CAP_CHOWN");
  assert.throws(
    () => capabilityName("FLY", "add_capabilities"),
    /unknown capability "FLY" in add_capabilities/,
  );
});

test("capability masks from /proc/self/status", () => {
  assert.deepEqual(capabilitiesFromMask("0000000000000003"), ["CAP_CHOWN", "CAP_DAC_OVERRIDE"]);
  const all = capabilitiesFromMask("000001ffffffffff");
  assert.equal(all.length, 41);
  assert.equal(capabilitiesFromMask("000001fffeffffff").includes("CAP_SYS_RESOURCE"), false);
});

test("oom_score_adj is never below the caller's own", () => {
  const cases: Array<[value: number, own: number, want: number]> = [
    [-998, 0, 0],
    [-998, -999, -998],
    [500, 0, 500],
    [-1000, -500, -500],
    [1000, 1000, 1000],
    [0, 0, 0],
  ];
  for (const [value, own, want] of cases) assert.equal(clampOomScoreAdj(value, own), want);
  // Without the second argument it reads this process's own score.
  assert.equal(clampOomScoreAdj(1000), 1000);
  assert.ok(clampOomScoreAdj(-1000) >= -1000);
});
