import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  DEFAULT_PATH_ENV,
  PROCESS_TYPE_URL,
  SPEC_TYPE_URL,
  buildRunSpec,
  defaultUnixSpec,
  execProcessSpec,
  mergeEnv,
  processToAny,
  specFromAny,
  specToAny,
} from "./spec.js";

describe("default Unix spec", () => {
  test("matches containerd's populateDefaultUnixSpec plus ctr's default devices", () => {
    const spec = defaultUnixSpec("default", "web");
    assert.equal(spec.ociVersion, "1.0.2-dev");
    assert.deepEqual(spec.root, { path: "rootfs" });
    assert.equal(spec.linux?.cgroupsPath, "/default/web");
    assert.deepEqual(
      spec.linux?.namespaces?.map((n) => n.type),
      ["pid", "ipc", "uts", "mount", "network"],
    );
    assert.equal(spec.process?.noNewPrivileges, true);
    assert.deepEqual(spec.process?.rlimits, [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }]);
    assert.equal(spec.process?.capabilities?.bounding?.length, 14);
    assert.ok(spec.process?.capabilities?.effective?.includes("CAP_NET_BIND_SERVICE"));
    assert.equal(spec.process?.capabilities?.inheritable, undefined);
    assert.deepEqual(
      spec.mounts?.map((m) => m.destination),
      ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/run"],
    );
    assert.ok(spec.linux?.maskedPaths?.includes("/proc/kcore"));
    assert.ok(spec.linux?.readonlyPaths?.includes("/proc/sys"));
    const devices = spec.linux?.resources?.devices ?? [];
    assert.deepEqual(devices[0], { allow: false, access: "rwm" }, "deny everything first");
    assert.ok(
      devices.some((d) => d.allow && d.type === "c" && d.major === 1 && d.minor === 3),
      "/dev/null",
    );
    assert.ok(
      devices.some((d) => d.allow && d.major === 136 && d.minor === undefined),
      "every pts",
    );
  });
});

describe("run spec", () => {
  const image = {
    Env: ["PATH=/bin", "LANG=C"],
    Entrypoint: ["/entry"],
    Cmd: ["serve", "--port", "80"],
    WorkingDir: "/srv",
  };

  test("takes entrypoint + command, environment and working directory from the image", () => {
    const spec = buildRunSpec({ namespace: "ns", id: "c1", image });
    assert.deepEqual(spec.process?.args, ["/entry", "serve", "--port", "80"]);
    assert.deepEqual(spec.process?.env, ["PATH=/bin", "LANG=C"]);
    assert.equal(spec.process?.cwd, "/srv");
    assert.deepEqual(spec.process?.user, { uid: 0, gid: 0, additionalGids: [0] });
    assert.equal(spec.process?.terminal, undefined);
    assert.equal(spec.annotations, undefined);
  });

  test("the caller's args replace entrypoint and command, as with ctr run", () => {
    const spec = buildRunSpec({ namespace: "ns", id: "c1", image, args: ["echo", "hi"] });
    assert.deepEqual(spec.process?.args, ["echo", "hi"]);
  });

  test("--env overrides, adds and unsets over the image's environment", () => {
    const spec = buildRunSpec({ namespace: "ns", id: "c1", image, env: ["LANG=fr", "X=1", "PATH"] });
    assert.deepEqual(spec.process?.env, ["LANG=fr", "X=1"]);
    const bare = buildRunSpec({ namespace: "ns", id: "c1", image: { Cmd: ["sh"] } });
    assert.deepEqual(bare.process?.env, [DEFAULT_PATH_ENV], "an image without Env gets the default PATH");
  });

  test("cwd, tty, memory limit, CPU shares, annotations and the resolved user", () => {
    const spec = buildRunSpec({
      namespace: "ns",
      id: "c1",
      image,
      cwd: "/tmp",
      tty: true,
      memoryLimit: 64 << 20,
      cpuShares: 1024,
      annotations: { team: "a" },
      user: { uid: 1000, gid: 100, additionalGids: [10] },
    });
    assert.equal(spec.process?.cwd, "/tmp");
    assert.equal(spec.process?.terminal, true);
    assert.equal(spec.process?.env?.at(-1), "TERM=xterm");
    assert.deepEqual(spec.linux?.resources?.memory, { limit: 64 << 20 });
    assert.deepEqual(spec.linux?.resources?.cpu, { shares: 1024 });
    assert.deepEqual(spec.annotations, { team: "a" });
    assert.deepEqual(spec.process?.user, { uid: 1000, gid: 100, additionalGids: [100, 10] });
  });

  test("--net-host drops the network namespace and shares hosts, resolv.conf and the hostname", () => {
    const spec = buildRunSpec({ namespace: "ns", id: "c1", image, netHost: true, hostname: "node1" });
    assert.ok(!spec.linux?.namespaces?.some((n) => n.type === "network"));
    assert.equal(spec.linux?.namespaces?.length, 4);
    const binds = spec.mounts
      ?.filter((m) => m.type === "bind")
      .map((m) => [m.destination, m.source, m.options]);
    assert.deepEqual(binds, [
      ["/etc/hosts", "/etc/hosts", ["rbind", "ro"]],
      ["/etc/resolv.conf", "/etc/resolv.conf", ["rbind", "ro"]],
    ]);
    assert.ok(spec.process?.env?.includes("HOSTNAME=node1"));
  });

  test("nothing to run is an error that says what to do", () => {
    assert.throws(() => buildRunSpec({ namespace: "ns", id: "c1", image: {} }), /no command to run/);
  });
});

test("mergeEnv keeps order, replaces in place and removes bare keys", () => {
  assert.deepEqual(mergeEnv(["A=1", "B=2", "C=3"], ["B=x", "D=4", "A", "Z"]), ["B=x", "C=3", "D=4"]);
  assert.deepEqual(mergeEnv([], ["A=1", "A=2"]), ["A=2"]);
});

test("an exec's process is the container's with new args, terminal and cwd", () => {
  const spec = buildRunSpec({ namespace: "ns", id: "c1", image: { Cmd: ["sh"] }, tty: true });
  const p = execProcessSpec(spec, { args: ["ls", "-l"], cwd: "/etc" });
  assert.deepEqual(p.args, ["ls", "-l"]);
  assert.equal(p.terminal, false);
  assert.equal(p.cwd, "/etc");
  assert.deepEqual(p.env, spec.process?.env);
  assert.deepEqual(spec.process?.args, ["sh"], "the container's own spec is untouched");
  assert.throws(() => execProcessSpec(spec, { args: [] }), /needs a command/);
});

test("specs travel as JSON in an Any with containerd's type URLs", () => {
  const spec = buildRunSpec({ namespace: "ns", id: "c1", image: { Cmd: ["sh"] } });
  const any = specToAny(spec);
  assert.equal(any.typeUrl, SPEC_TYPE_URL);
  assert.equal(SPEC_TYPE_URL, "types.containerd.io/opencontainers/runtime-spec/1/Spec");
  assert.deepEqual(specFromAny(any, "c1"), spec);
  assert.equal(processToAny(spec.process!).typeUrl, PROCESS_TYPE_URL);
  assert.throws(() => specFromAny(undefined, "c1"), /container c1 has no runtime spec/);
  assert.throws(() => specFromAny({ typeUrl: SPEC_TYPE_URL, value: Buffer.from("{") }, "c1"), /not JSON/);
});
