import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { isKind } from "../errdefs.js";
import {
  defaultSeccompProfile,
  loadLocalhostProfile,
  parseSeccompProfile,
  syscallVerdict,
} from "./seccomp.js";
import { defaultCapabilities } from "./spec.js";

const x64 = { arch: "x64", kernelRelease: "6.1.0-18-amd64" };

describe("the RuntimeDefault profile", () => {
  const profile = defaultSeccompProfile(defaultCapabilities(), x64);

  test("is an allow-list: anything not listed fails with an errno", () => {
    assert.equal(profile.defaultAction, "SCMP_ACT_ERRNO");
    assert.deepEqual(profile.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
  });

  test("allows ordinary calls and denies dangerous ones", () => {
    for (const name of [
      "read",
      "write",
      "openat",
      "execve",
      "clock_gettime",
      "futex",
      "arch_prctl",
      "chroot",
    ]) {
      assert.equal(syscallVerdict(profile, name), "allow", name);
    }
    for (const name of [
      "kexec_load",
      "init_module",
      "mount",
      "umount2",
      "reboot",
      "bpf",
      "unshare",
      "setns",
    ]) {
      assert.equal(syscallVerdict(profile, name), "deny", name);
    }
  });

  test("personality and clone are allowed with argument conditions", () => {
    assert.equal(syscallVerdict(profile, "personality"), "conditional");
    assert.equal(syscallVerdict(profile, "clone"), "conditional");
    const clone = profile.syscalls?.find((s) => s.names.includes("clone"));
    assert.deepEqual(clone?.args, [{ index: 0, value: 0x7e020000, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }]);
  });

  test("clone3 fails with ENOSYS so that libc falls back to clone", () => {
    const clone3 = profile.syscalls?.find((s) => s.names.includes("clone3"));
    assert.deepEqual(clone3, { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38 });
  });

  test("CAP_SYS_ADMIN unlocks mount, unshare, plain clone and clone3", () => {
    const admin = defaultSeccompProfile([...defaultCapabilities(), "CAP_SYS_ADMIN"], x64);
    for (const name of ["mount", "umount2", "unshare", "setns", "clone", "clone3", "bpf"]) {
      assert.equal(syscallVerdict(admin, name), "allow", name);
    }
    assert.equal(
      admin.syscalls?.some((s) => s.action === "SCMP_ACT_ERRNO"),
      false,
    );
    assert.equal(syscallVerdict(admin, "kexec_load"), "deny");
  });

  test("other capabilities unlock their calls", () => {
    const cases: Array<[cap: string, call: string]> = [
      ["CAP_SYS_MODULE", "init_module"],
      ["CAP_SYS_BOOT", "reboot"],
      ["CAP_SYS_TIME", "settimeofday"],
      ["CAP_SYS_RAWIO", "iopl"],
      ["CAP_DAC_READ_SEARCH", "open_by_handle_at"],
      ["CAP_SYS_NICE", "mbind"],
      ["CAP_SYSLOG", "syslog"],
      ["CAP_BPF", "bpf"],
      ["CAP_PERFMON", "perf_event_open"],
      ["CAP_SYS_PACCT", "acct"],
      ["CAP_SYS_TTY_CONFIG", "vhangup"],
    ];
    for (const [cap, call] of cases) {
      assert.equal(syscallVerdict(profile, call), "deny", call);
      assert.equal(syscallVerdict(defaultSeccompProfile([cap], x64), call), "allow", `${call} with ${cap}`);
    }
  });

  test("chroot needs CAP_SYS_CHROOT", () => {
    assert.equal(syscallVerdict(defaultSeccompProfile([], x64), "chroot"), "deny");
  });

  test("ptrace: with CAP_SYS_PTRACE always, without it only from Linux 4.8 on", () => {
    const old = { arch: "x64", kernelRelease: "4.4.0-210-generic" };
    assert.equal(syscallVerdict(defaultSeccompProfile(defaultCapabilities(), old), "ptrace"), "deny");
    assert.equal(
      syscallVerdict(defaultSeccompProfile([...defaultCapabilities(), "CAP_SYS_PTRACE"], old), "ptrace"),
      "allow",
    );
    assert.equal(syscallVerdict(defaultSeccompProfile(defaultCapabilities(), x64), "ptrace"), "allow");
    assert.equal(
      syscallVerdict(
        defaultSeccompProfile(defaultCapabilities(), { arch: "x64", kernelRelease: "4.8.0" }),
        "ptrace",
      ),
      "allow",
    );
    // The calls that read another process's memory stay behind CAP_SYS_PTRACE on every kernel.
    for (const call of ["process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd"]) {
      assert.equal(syscallVerdict(profile, call), "deny", call);
      assert.equal(syscallVerdict(defaultSeccompProfile(["CAP_SYS_PTRACE"], x64), call), "allow", call);
    }
  });

  test("arm64 gets the ARM architectures and calls", () => {
    const arm = defaultSeccompProfile(defaultCapabilities(), { arch: "arm64", kernelRelease: "6.1" });
    assert.deepEqual(arm.architectures, ["SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64"]);
    assert.equal(syscallVerdict(arm, "set_tls"), "allow");
    assert.equal(syscallVerdict(arm, "arch_prctl"), "deny");
  });

  test("the profile is JSON runc can read", () => {
    assert.deepEqual(parseSeccompProfile(JSON.stringify(profile)), profile);
  });
});

describe("localhost profiles", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-seccomp-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("are read from a JSON file", () => {
    const file = join(dir, "audit.json");
    writeFileSync(
      file,
      JSON.stringify({
        defaultAction: "SCMP_ACT_LOG",
        architectures: ["SCMP_ARCH_X86_64"],
        syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO", errnoRet: 1, args: [] }],
        comment: "unknown fields are ignored",
      }),
    );
    assert.deepEqual(loadLocalhostProfile(file), {
      defaultAction: "SCMP_ACT_LOG",
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO", errnoRet: 1, args: [] }],
    });
  });

  test("a missing file is a clear InvalidArgument error", () => {
    assert.throws(
      () => loadLocalhostProfile(join(dir, "nope.json")),
      (err: Error) =>
        isKind(err, "InvalidArgument") &&
        /cannot load seccomp profile .*nope\.json.*ENOENT/.test(err.message),
    );
  });

  test("invalid contents say what is wrong", () => {
    const cases: Array<[content: string, message: RegExp]> = [
      ["{not json", /is invalid: not JSON/],
      ["[]", /not a JSON object/],
      ["{}", /"defaultAction" is missing/],
      ['{"defaultAction":"SCMP_ACT_ERRNO","syscalls":{}}', /"syscalls" is not a list/],
      [
        '{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":"read","action":"SCMP_ACT_ALLOW"}]}',
        /syscalls\[0\] needs "names"/,
      ],
      [
        '{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0}]}]}',
        /syscalls\[0\]\.args\[0\]/,
      ],
    ];
    for (const [content, message] of cases) {
      const file = join(dir, "bad.json");
      writeFileSync(file, content);
      assert.throws(
        () => loadLocalhostProfile(file),
        (err: Error) => isKind(err, "InvalidArgument") && message.test(err.message),
        content,
      );
    }
  });

  test("relative paths are refused", () => {
    assert.throws(() => loadLocalhostProfile("profiles/audit.json"), /not an absolute path/);
  });
});
