// deploy/install.sh as a node installs Berth, into a temporary root (BERTH_PREFIX,
// BERTH_BINDIR, BERTH_ETC, SYSTEMD_DIR, CRICTL_CONFIG) from a copy of this clone: the
// programs run after the clone is moved, report their version, show their names to ps and
// pgrep -x, configs survive reinstalls, a running shim keeps working while new releases
// are installed, unused releases go, and --uninstall keeps configs.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import { appendFile, cp, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parseBerthdConfig } from "@berth/core/config/config";
import { execa } from "execa";
import { repoRoot } from "./daemons.js";
import { ctr, ctrOk, parseTable } from "./fixtures/ctr.js";
import { type PushedImage, buildSimpleImage } from "./fixtures/images.js";
import { unmountUnder } from "./fixtures/mounts.js";
import { type ManagedProcess, spawnManaged } from "./fixtures/process.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { removeDir, tempDir, waitFor } from "./fixtures/tmp.js";

const programs = ["berthd", "berth-cri", "berthctl", "containerd-shim-berth-v2"] as const;
/** A string matched literally inside a RegExp. */
const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const build = JSON.parse(readFileSync(join(repoRoot, "build-info.json"), "utf8")) as {
  version: string;
  revision: string;
};

let dir: string;
let clone: string;
let paths: { prefix: string; bin: string; etc: string; systemd: string; crictl: string };
let env: NodeJS.ProcessEnv;
let registry: Registry;
let image: PushedImage;

async function install(...args: string[]) {
  return execa("bash", [join(clone, "deploy/install.sh"), "--no-build", ...args], {
    env,
    reject: false,
    timeout: 180_000,
  });
}

async function installOk(...args: string[]): Promise<string> {
  const r = await install(...args);
  assert.equal(r.exitCode, 0, `install.sh ${args.join(" ")}: ${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

const releases = () => readdirSync(join(paths.prefix, "releases")).sort();
const current = () => readlinkSync(join(paths.prefix, "current")).replace(/^releases\//, "");

/** Args and comm of a process as ps shows them, and whether pgrep -x NAME lists it. */
async function seenAs(pid: number, name: string) {
  const args = (await execa("ps", ["-o", "args=", "-p", String(pid)])).stdout.trim();
  const comm = (await execa("ps", ["-o", "comm=", "-p", String(pid)])).stdout.trim();
  const pgrep = (await execa("pgrep", ["-x", name], { reject: false })).stdout.split("\n");
  return { args, comm, pgrep: pgrep.includes(String(pid)) };
}

before(async () => {
  dir = await tempDir("install-");
  clone = join(dir, "clone");
  // What install.sh --no-build needs of a built clone; the real clone is not touched.
  await mkdir(clone);
  for (const f of ["package.json", "pnpm-lock.yaml", "pnpm-workspace.yaml", "build-info.json"]) {
    await cp(join(repoRoot, f), join(clone, f));
  }
  for (const d of ["deploy", "docs", "scripts"])
    await cp(join(repoRoot, d), join(clone, d), { recursive: true });
  await cp(join(repoRoot, "packages"), join(clone, "packages"), {
    recursive: true,
    filter: (src) => !src.includes("/node_modules") && !src.includes("/src/"),
  });
  const root = join(dir, "root");
  paths = {
    prefix: join(root, "usr/local/lib/berth"),
    bin: join(root, "usr/local/bin"),
    etc: join(root, "etc/berth"),
    systemd: join(root, "etc/systemd/system"),
    crictl: join(root, "etc/crictl.yaml"),
  };
  env = {
    ...process.env,
    BERTH_PREFIX: paths.prefix,
    BERTH_BINDIR: paths.bin,
    BERTH_ETC: paths.etc,
    SYSTEMD_DIR: paths.systemd,
    CRICTL_CONFIG: paths.crictl,
  };
  registry = await startRegistry();
  image = await buildSimpleImage(registry.host, "berth/install", "v1");
});

after(async () => {
  await registry?.stop();
  if (dir) {
    await unmountUnder(dir);
    await removeDir(dir);
  }
});

describe("deploy/install.sh into a temporary root", () => {
  test("installs a release with wrappers, configs, crictl.yaml and units that run without the clone", async () => {
    await installOk();
    assert.deepEqual(releases(), [current()]);
    assert.match(current(), new RegExp(`^${re(build.version)}-${re(build.revision.slice(0, 12))}`));
    const release = join(paths.prefix, "releases", current());
    assert.ok(existsSync(join(release, "node_modules/.pnpm")), "production node_modules in the release");
    assert.ok(!existsSync(join(release, "packages/core/src")), "no sources in the release");

    for (const f of ["berthd.yaml", "cri.yaml"]) assert.ok(existsSync(join(paths.etc, f)), f);
    const crictl = await readFile(paths.crictl, "utf8");
    assert.match(crictl, /^runtime-endpoint: unix:\/\/\/run\/berth\/cri\.sock$/m);
    assert.match(crictl, /^image-endpoint: unix:\/\/\/run\/berth\/cri\.sock$/m);
    const unit = await readFile(join(paths.systemd, "berthd.service"), "utf8");
    assert.match(unit, new RegExp(`^ExecStart=${paths.bin}/berthd --config ${paths.etc}/berthd.yaml$`, "m"));
    const analyze = await execa(
      "systemd-analyze",
      ["verify", join(paths.systemd, "berthd.service"), join(paths.systemd, "berth-cri.service")],
      { reject: false },
    );
    assert.equal(analyze.exitCode, 0, analyze.stderr);

    // The clone moves away: the programs run from the release.
    await rename(clone, `${clone}.moved`);
    try {
      for (const p of ["berthd", "berth-cri", "berthctl"]) {
        const r = await execa(join(paths.bin, p), ["--version"]);
        assert.equal(r.stdout, `${p} berth ${build.version} ${build.revision}`);
      }
      const shim = await execa(join(paths.bin, "containerd-shim-berth-v2"), ["--version"]);
      assert.match(
        shim.stdout,
        new RegExp(`Version: +${re(build.version)}\\n +Revision: ${re(build.revision)}`),
      );
    } finally {
      await rename(`${clone}.moved`, clone);
    }
  });

  test("a reinstall keeps edited configs and the previous release", async () => {
    const before = current();
    // A config an earlier release wrote carries a key berthd no longer reads.
    await appendFile(join(paths.etc, "berthd.yaml"), "defaultSnapshotter: overlayfs\n# edited\n");
    await writeFile(paths.crictl, "runtime-endpoint: unix:///elsewhere.sock\n");
    await installOk();
    assert.notEqual(current(), before);
    assert.deepEqual(releases(), [before, current()].sort());
    const kept = await readFile(join(paths.etc, "berthd.yaml"), "utf8");
    assert.match(kept, /# edited\n$/);
    assert.doesNotMatch(kept, /defaultSnapshotter/, "the install drops the key berthd refuses");
    assert.doesNotThrow(() => parseBerthdConfig(kept), "the kept config loads");
    assert.equal(await readFile(paths.crictl, "utf8"), "runtime-endpoint: unix:///elsewhere.sock\n");
  });

  test("daemons and shims show their names; a running shim keeps working across installs", async () => {
    const run = join(dir, "run");
    await mkdir(run);
    const address = join(run, "berthd.sock");
    const cri = join(run, "cri.sock");
    await writeFile(
      join(run, "berthd.yaml"),
      `root: ${join(run, "root")}\nstate: ${join(run, "state")}\ngrpc:\n  address: ${address}\n`,
    );
    await writeFile(
      join(run, "cri.yaml"),
      `root: ${join(run, "cri-root")}\nstate: ${join(run, "cri-state")}\naddress: ${cri}\n` +
        `containerd:\n  address: ${address}\nstreaming:\n  address: 127.0.0.1:0\n`,
    );
    const daemonEnv = { ...env, PATH: `${paths.bin}:${process.env.PATH ?? "/usr/bin:/bin"}` };
    const started: ManagedProcess[] = [];
    const ns = `install-${randomBytes(3).toString("hex")}`;
    const id = "shim-across-installs";
    const ok = (args: string[]) => ctrOk(address, args, { namespace: ns, timeoutMs: 60_000 });
    try {
      const berthd = await spawnManaged(join(paths.bin, "berthd"), ["--config", join(run, "berthd.yaml")], {
        logFile: join(run, "berthd.log"),
        env: daemonEnv,
      });
      started.push(berthd);
      await waitFor(async () => (await ctr(address, ["version"], { timeoutMs: 5000 })).exitCode === 0, {
        timeoutMs: 30_000,
        what: `berthd on ${address}`,
      });
      assert.deepEqual(await seenAs(berthd.pid, "berthd"), {
        args: `berthd --config ${join(run, "berthd.yaml")}`,
        comm: "berthd",
        pgrep: true,
      });
      const berthCri = await spawnManaged(join(paths.bin, "berth-cri"), ["--config", join(run, "cri.yaml")], {
        logFile: join(run, "berth-cri.log"),
        env: daemonEnv,
      });
      started.push(berthCri);
      await waitFor(() => existsSync(cri), { timeoutMs: 30_000, what: `berth-cri on ${cri}` });
      assert.deepEqual(await seenAs(berthCri.pid, "berth-cri"), {
        args: `berth-cri --config ${join(run, "cri.yaml")}`,
        comm: "berth-cri",
        pgrep: true,
      });

      const version = await execa(join(paths.bin, "berthctl"), ["--address", address, "version"]);
      assert.match(
        version.stdout,
        new RegExp(`^Client:\\n  Version:  ${re(build.version)}\\n  Revision: ${re(build.revision)}\\n`),
      );
      assert.match(
        version.stdout,
        new RegExp(
          `\\nServer:\\n  Version:  1\\.6\\.20\\+berth\\.${re(build.version)}\\n  Revision: ${re(build.revision)}$`,
        ),
      );

      await ok(["images", "pull", "--plain-http", image.ref]);
      await ok(["run", "-d", "--runtime", "io.containerd.berth.v2", image.ref, id, "sleep", "600"]);
      const release = join(paths.prefix, "releases", current());
      const shimPid = Number(
        (await execa("pgrep", ["-f", `^containerd-shim-berth-v2 -namespace ${ns} -id ${id} `])).stdout.split(
          "\n",
        )[0],
      );
      const shim = await seenAs(shimPid, "containerd-shim");
      assert.equal(shim.comm, "containerd-shim");
      assert.ok(shim.pgrep, "pgrep -x containerd-shim lists Berth's shim");
      assert.ok(
        shim.args.startsWith(`containerd-shim-berth-v2 -namespace ${ns} -id ${id} -address ${address} `),
        shim.args,
      );
      assert.ok(
        shim.args.includes(` -publish-binary ${join(paths.bin, "berthd")}`),
        `berthd names itself as its wrapper in the installed bin directory: ${shim.args}`,
      );
      const environ = readFileSync(`/proc/${shimPid}/environ`, "utf8").split("\0");
      assert.ok(environ.includes(`BERTH_RELEASE=${release}`), "the shim runs from the release it started in");

      // Two installs later its release is neither current nor previous, but in use: kept.
      await installOk();
      await installOk();
      assert.ok(existsSync(release), "the running shim's release stays");
      assert.equal(releases().length, 3, releases().join(", "));
      const exec = await ok(["tasks", "exec", "--exec-id", "e1", id, "echo", "still here"]);
      assert.equal(exec.stdout, "still here\n");
      // The shim imports its metrics module on the first call: from its own release.
      const metrics = await ok(["tasks", "metrics", id]);
      assert.match(metrics.stdout, /memory\.usage_in_bytes\s+\d+/);
      await ok(["tasks", "kill", "-s", "SIGKILL", id]);
      await waitFor(
        async () =>
          parseTable((await ok(["tasks", "ls"])).stdout).find((t) => t.TASK === id)?.STATUS === "STOPPED",
        { timeoutMs: 30_000, what: `task ${id} to stop` },
      );
      await ok(["tasks", "rm", id]);
      await ok(["containers", "rm", id]);

      const refused = await install("--uninstall");
      assert.equal(refused.exitCode, 1);
      assert.match(refused.stderr, /processes still run from .*: stop the daemons/);

      for (const p of started.splice(0)) await p.stop();
      await waitFor(() => !existsSync(`/proc/${shimPid}`), { timeoutMs: 30_000, what: "the shim to exit" });
      const previous = current();
      await installOk();
      assert.deepEqual(releases(), [previous, current()].sort(), "unused releases are removed");
    } finally {
      // After a failure, while berthd still runs: the task and its shim go before the daemons.
      if (started.length > 0) {
        for (const args of [
          ["tasks", "rm", "-f", id],
          ["containers", "rm", id],
        ]) {
          await ctr(address, args, { namespace: ns, timeoutMs: 20_000 });
        }
      }
      for (const p of started) await p.stop();
    }
  });

  test("--uninstall removes programs, prefix and units and keeps configs", async () => {
    const out = await installOk("--uninstall");
    assert.match(out, /kept configs/);
    for (const p of programs) assert.ok(!existsSync(join(paths.bin, p)), p);
    assert.ok(!existsSync(paths.prefix));
    assert.deepEqual(readdirSync(paths.systemd), []);
    assert.match(await readFile(join(paths.etc, "berthd.yaml"), "utf8"), /# edited\n$/);
    assert.ok(existsSync(paths.crictl));
  });
});
