import assert from "node:assert/strict";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { S_IFCHR, S_IFIFO, major, makedev, minor, mknod } from "./device.js";
import { SyscallError, hasErrno } from "./libc.js";
import { MNT_DETACH, MS_BIND, MS_RDONLY, MS_REMOUNT, mount, unmount } from "./mount.js";
import { lutimesNs } from "./time.js";
import { lgetxattr, llistxattr, lremovexattr, lsetxattr } from "./xattr.js";

describe("sys", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync("/var/tmp/berth-sys-");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("encodes dev_t like glibc", () => {
    assert.equal(makedev(1, 3), 0x103n);
    assert.equal(makedev(259, 65536), 0x10010300n);
    for (const [ma, mi] of [
      [0, 0],
      [1, 3],
      [4095, 255],
      [4096, 1 << 20],
    ] as const) {
      const dev = makedev(ma, mi);
      assert.equal(major(dev), ma);
      assert.equal(minor(dev), mi);
    }
    assert.equal(major(lstatSync("/dev/null").rdev), 1);
    assert.equal(minor(lstatSync("/dev/null").rdev), 3);
  });

  it("makes device nodes and fifos", () => {
    const chr = join(dir, "null");
    mknod(chr, S_IFCHR | 0o666, makedev(1, 3));
    const st = lstatSync(chr);
    assert.ok(st.isCharacterDevice());
    assert.equal(major(st.rdev), 1);
    assert.equal(minor(st.rdev), 3);
    const fifo = join(dir, "fifo");
    mknod(fifo, S_IFIFO | 0o600);
    assert.ok(lstatSync(fifo).isFIFO());
  });

  it("names the call, the path and the errno on failure", () => {
    const path = join(dir, "null");
    assert.throws(
      () => mknod(path, S_IFIFO | 0o600),
      (err: unknown) => {
        assert.ok(err instanceof SyscallError);
        assert.equal(err.code, "EEXIST");
        assert.equal(err.path, path);
        assert.match(err.message, /^mknod .*\/null: EEXIST: File exists$/);
        assert.ok(hasErrno(err, "EEXIST"));
        return true;
      },
    );
  });

  it("sets, reads, lists and removes xattrs without following symlinks", () => {
    const file = join(dir, "file");
    writeFileSync(file, "x");
    const link = join(dir, "link");
    symlinkSync("file", link);
    const binary = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x80, 0xff, 0x00]);
    lsetxattr(file, "user.berth", binary);
    lsetxattr(link, "trusted.berth", Buffer.from("on-link"));
    assert.deepEqual(lgetxattr(file, "user.berth"), binary);
    assert.equal(lgetxattr(link, "user.berth"), undefined);
    assert.equal(lgetxattr(link, "trusted.berth")?.toString(), "on-link");
    assert.equal(lgetxattr(file, "trusted.berth"), undefined);
    assert.ok(llistxattr(file).includes("user.berth"));
    assert.deepEqual(
      llistxattr(link).filter((n) => n.startsWith("trusted.berth")),
      ["trusted.berth"],
    );
    lsetxattr(file, "user.empty", new Uint8Array());
    assert.equal(lgetxattr(file, "user.empty")?.length, 0);
    lremovexattr(file, "user.berth");
    assert.equal(lgetxattr(file, "user.berth"), undefined);
    assert.throws(() => lgetxattr(join(dir, "missing"), "user.x"), /ENOENT/);
  });

  it("sets times with nanoseconds on the link itself", () => {
    const link = join(dir, "link");
    lutimesNs(link, 1_000_000_123n, 1_700_000_000_987_654_321n);
    const st = lstatSync(link, { bigint: true });
    assert.equal(st.mtimeNs, 1_700_000_000_987_654_321n);
    assert.equal(st.atimeNs, 1_000_000_123n);
    assert.notEqual(lstatSync(join(dir, "file"), { bigint: true }).mtimeNs, st.mtimeNs);
  });

  it("bind mounts read-only and unmounts", () => {
    const src = join(dir, "src");
    const dst = join(dir, "dst");
    mkdirSync(src);
    mkdirSync(dst);
    writeFileSync(join(src, "hello"), "world");
    mount(src, dst, null, MS_BIND, null);
    try {
      mount(null, dst, null, MS_BIND | MS_REMOUNT | MS_RDONLY, null);
      assert.equal(readFileSync(join(dst, "hello"), "utf8"), "world");
      assert.throws(() => writeFileSync(join(dst, "nope"), "x"), /EROFS/);
    } finally {
      unmount(dst, MNT_DETACH);
    }
    assert.throws(
      () => unmount(dst),
      (err: unknown) => hasErrno(err, "EINVAL"),
    );
  });
});
