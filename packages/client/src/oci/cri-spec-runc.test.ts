// A generated container spec run by the real runc: a busybox bundle with run_as_user,
// no_new_privs, RuntimeDefault seccomp and a read-only rootfs, in fresh namespaces and a
// cgroup under /berth-test. What the process sees of itself is the check.

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  ContainerConfig,
  PodSandboxConfig,
  SecurityProfile_ProfileType,
} from "@berth/api/cri/runtime/v1/api";
import { containerSpec } from "./cri-spec.js";
import { userDatabase } from "./user.js";

const canRun = (() => {
  try {
    execFileSync("runc", ["--version"], { stdio: "ignore" });
    return process.getuid?.() === 0 && existsSync("/bin/busybox");
  } catch {
    return false;
  }
})();

const CGROUP_PARENT = "/berth-test";

/** Remove the container's cgroup (runc normally has) and the test parent from every v1 hierarchy or v2. */
function removeCgroups(id: string): void {
  const root = "/sys/fs/cgroup";
  const dirs = [
    root,
    ...readdirSync(root, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => join(root, e.name)),
  ];
  for (const dir of dirs) {
    for (const path of [join(dir, CGROUP_PARENT, id), join(dir, CGROUP_PARENT)]) {
      try {
        rmdirSync(path);
      } catch {
        // absent in this hierarchy, or still in use by another run of this test
      }
    }
  }
}

describe(
  "a generated spec under runc",
  { skip: !canRun && "needs root, runc and /bin/busybox", timeout: 60_000 },
  () => {
    const dir = mkdtempSync("/var/tmp/berth-oci-");
    const state = join(dir, "runc-state");
    const id = `berth-oci-${process.pid}-${Date.now()}`;

    after(() => {
      spawnSync("runc", ["--root", state, "delete", "--force", id], { stdio: "ignore" });
      removeCgroups(id);
      rmSync(dir, { recursive: true, force: true });
    });

    test("uid 1000, no new privileges, seccomp filter on", () => {
      const bundle = join(dir, "bundle");
      const rootfs = join(bundle, "rootfs");
      for (const d of ["bin", "proc", "dev", "sys", "tmp", "etc"])
        mkdirSync(join(rootfs, d), { recursive: true });
      copyFileSync("/bin/busybox", join(rootfs, "bin/busybox"));
      for (const applet of ["sh", "id", "cat", "grep"]) symlinkSync("busybox", join(rootfs, "bin", applet));
      writeFileSync(
        join(rootfs, "etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/tmp:/bin/sh\n",
      );
      writeFileSync(join(rootfs, "etc/group"), "root:x:0:\napp:x:1000:\n");
      mkdirSync(state);

      // The pod's files, as berth-cri writes them per sandbox.
      const pod = join(dir, "pod");
      mkdirSync(join(pod, "shm"), { recursive: true });
      writeFileSync(join(pod, "hosts"), "127.0.0.1 localhost\n");
      writeFileSync(join(pod, "resolv.conf"), "nameserver 127.0.0.1\n");
      writeFileSync(join(pod, "hostname"), "berth-test\n");

      const users = userDatabase(
        readFileSync(join(rootfs, "etc/passwd"), "utf8"),
        readFileSync(join(rootfs, "etc/group"), "utf8"),
      );
      const spec = containerSpec({
        id,
        sandboxId: "no-sandbox",
        config: ContainerConfig.fromPartial({
          metadata: { name: "check" },
          command: ["sh", "-c", "id -u; cat /proc/self/status | grep -E 'NoNewPrivs|Seccomp'"],
          linux: {
            securityContext: {
              runAsUser: { value: 1000n },
              noNewPrivs: true,
              readonlyRootfs: true,
              seccomp: { profileType: SecurityProfile_ProfileType.RuntimeDefault },
            },
          },
        }),
        sandboxConfig: PodSandboxConfig.fromPartial({
          metadata: { name: "check", namespace: "default", uid: "u1" },
          hostname: "berth-test",
        }),
        imageConfig: { env: ["PATH=/bin"] },
        netnsPath: "",
        cgroupParent: CGROUP_PARENT,
        hostsPath: join(pod, "hosts"),
        resolvConfPath: join(pod, "resolv.conf"),
        hostnamePath: join(pod, "hostname"),
        shmPath: join(pod, "shm"),
        imageName: "busybox",
        passwdLookup: users.passwd,
        groupLookup: users.group,
      });
      assert.equal(spec.linux.cgroupsPath, `${CGROUP_PARENT}/${id}`);
      assert.equal(spec.linux.namespaces.find((n) => n.type === "network")?.path, undefined);
      writeFileSync(join(bundle, "config.json"), JSON.stringify(spec, null, 2));

      const run = spawnSync("runc", ["--root", state, "run", "--bundle", bundle, id], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        timeout: 30_000,
      });
      assert.equal(run.status, 0, `runc run failed: ${run.stderr}`);
      const lines = run.stdout.trim().split("\n");
      assert.equal(lines[0], "1000", run.stdout);
      assert.match(run.stdout, /^NoNewPrivs:\s+1$/m);
      assert.match(run.stdout, /^Seccomp:\s+2$/m);
    });
  },
);
