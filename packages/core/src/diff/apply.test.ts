import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import tarStream from "tar-stream";
import { withTempMount } from "../mount/mount-all.js";
import { major, minor } from "../sys/device.js";
import { lgetxattr } from "../sys/xattr.js";
import { Sha256Tap, applyLayer, decompressIfNeeded } from "./apply.js";
import { type TarEntry, TarWriter } from "./tar.js";

type Entry = Partial<tarStream.Header> & { name: string; body?: string | Buffer };

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const { body, ...header } of entries)
    pack.entry({ ...header, mtime: header.mtime ?? new Date(1_600_000_000_000) }, body ?? "");
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function tarOfEntries(entries: TarEntry[]): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  const tar = new TarWriter(out);
  for (const e of entries) await tar.add(e);
  await tar.finish();
  out.end();
  return Buffer.concat(chunks);
}

const apply = (data: Buffer, root: string, whiteouts: "overlay" | "remove" = "remove") =>
  applyLayer(Readable.from([data]), root, { whiteouts });

describe("applyLayer", () => {
  let dir = "";
  let n = 0;
  const fresh = () => {
    const root = join(dir, `root-${++n}`);
    mkdirSync(root);
    return root;
  };
  before(() => {
    dir = mkdtempSync("/var/tmp/berth-apply-");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("unpacks files, directories, links, devices, owners, modes and times", async () => {
    const root = fresh();
    const data = await tarOf([
      { name: "etc", type: "directory", mode: 0o755, mtime: new Date(1_500_000_000_000) },
      { name: "etc/hostname", body: "berth\n", mode: 0o644, uid: 1000, gid: 1001 },
      { name: "bin/su", body: "#!", mode: 0o4755, uid: 0, gid: 0 },
      { name: "bin/sgid", body: "#!", mode: 0o2755, uid: 1000, gid: 50 },
      { name: "tmp", type: "directory", mode: 0o1777 },
      { name: "etc/link", type: "symlink", linkname: "/etc/hostname" },
      // A hardlink's header carries its file's metadata, and is applied to it (as containerd does).
      { name: "etc/hard", type: "link", linkname: "etc/hostname", mode: 0o644, uid: 1000, gid: 1001 },
      { name: "dev/null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 },
      { name: "dev/loop0", type: "block-device", devmajor: 7, devminor: 0, mode: 0o660 },
      { name: "run/fifo", type: "fifo", mode: 0o600 },
      { name: "etc/late", body: "written after etc's own entry" },
    ]);
    const { size } = await apply(data, root);
    assert.equal(size, data.length);

    assert.equal(readFileSync(join(root, "etc/hostname"), "utf8"), "berth\n");
    assert.equal(statSync(join(root, "etc/hostname")).uid, 1000);
    assert.equal(statSync(join(root, "etc/hostname")).gid, 1001);
    assert.equal(statSync(join(root, "etc/hostname")).mtimeMs, 1_600_000_000_000);
    assert.equal(statSync(join(root, "bin/su")).mode & 0o7777, 0o4755);
    assert.equal(statSync(join(root, "bin/sgid")).mode & 0o7777, 0o2755);
    assert.equal(statSync(join(root, "bin/sgid")).gid, 50);
    assert.equal(statSync(join(root, "tmp")).mode & 0o7777, 0o1777);
    assert.equal(readlinkSync(join(root, "etc/link")), "/etc/hostname");
    assert.equal(statSync(join(root, "etc/hard")).ino, statSync(join(root, "etc/hostname")).ino);
    const null_ = lstatSync(join(root, "dev/null"));
    assert.ok(null_.isCharacterDevice());
    assert.equal(major(null_.rdev), 1);
    assert.equal(minor(null_.rdev), 3);
    assert.equal(null_.mode & 0o777, 0o666);
    assert.ok(lstatSync(join(root, "dev/loop0")).isBlockDevice());
    assert.ok(lstatSync(join(root, "run/fifo")).isFIFO());
    // Directory times are set after their children are written.
    assert.equal(statSync(join(root, "etc")).mtimeMs, 1_500_000_000_000);
  });

  it("replaces entries of another type, and merges a directory into a directory", async () => {
    const root = fresh();
    mkdirSync(join(root, "was-dir/deep"), { recursive: true });
    writeFileSync(join(root, "was-dir/deep/f"), "x");
    writeFileSync(join(root, "was-file"), "x");
    mkdirSync(join(root, "kept"));
    writeFileSync(join(root, "kept/old"), "old");
    symlinkSync("/", join(root, "was-link"));
    await apply(
      await tarOf([
        { name: "was-dir", body: "now a file" },
        { name: "was-file", type: "directory" },
        { name: "kept", type: "directory", mode: 0o700 },
        { name: "kept/new", body: "new" },
        { name: "was-link", type: "directory" },
      ]),
      root,
    );
    assert.equal(readFileSync(join(root, "was-dir"), "utf8"), "now a file");
    assert.ok(statSync(join(root, "was-file")).isDirectory());
    assert.deepEqual(readdirSync(join(root, "kept")).sort(), ["new", "old"]);
    assert.equal(statSync(join(root, "kept")).mode & 0o777, 0o700);
    assert.ok(lstatSync(join(root, "was-link")).isDirectory());
  });

  const whiteoutLayer = (opaqueFirst: boolean) => {
    const opaque = { name: "b/.wh..wh..opq" };
    const rest = [
      { name: "b", type: "directory" as const },
      { name: "b/sub", type: "directory" as const },
      { name: "b/sub/fresh", body: "fresh" },
      { name: "b/new", body: "new" },
    ];
    return tarOf([
      { name: "a/.wh.file1" },
      { name: ".wh.gone-dir" },
      ...(opaqueFirst ? [opaque, ...rest] : [...rest, opaque]),
    ]);
  };

  const lowerContent = (root: string) => {
    mkdirSync(join(root, "a"));
    writeFileSync(join(root, "a/file1"), "1");
    writeFileSync(join(root, "a/file2"), "2");
    mkdirSync(join(root, "b/sub"), { recursive: true });
    writeFileSync(join(root, "b/sub/old"), "old");
    writeFileSync(join(root, "b/old"), "old");
    mkdirSync(join(root, "gone-dir/x"), { recursive: true });
    mkdirSync(join(root, "c"));
    writeFileSync(join(root, "c/keep"), "keep");
  };

  for (const opaqueFirst of [true, false]) {
    it(`removes whited-out paths in "remove" mode (opaque marker ${opaqueFirst ? "first" : "last"})`, async () => {
      const root = fresh();
      lowerContent(root);
      await apply(await whiteoutLayer(opaqueFirst), root, "remove");
      assert.ok(!existsSync(join(root, "a/file1")));
      assert.ok(existsSync(join(root, "a/file2")));
      assert.ok(!existsSync(join(root, "gone-dir")));
      assert.deepEqual(readdirSync(join(root, "b")).sort(), ["new", "sub"]);
      assert.deepEqual(readdirSync(join(root, "b/sub")), ["fresh"]);
      assert.ok(existsSync(join(root, "c/keep")));
    });
  }

  it('writes overlayfs whiteouts in "overlay" mode, and the merged view hides what they name', async () => {
    const lower = fresh();
    lowerContent(lower);
    const upper = fresh();
    const work = fresh();
    await apply(await whiteoutLayer(true), upper, "overlay");
    const wh = lstatSync(join(upper, "a/file1"));
    assert.ok(wh.isCharacterDevice());
    assert.equal(wh.rdev, 0);
    assert.ok(lstatSync(join(upper, "gone-dir")).isCharacterDevice());
    assert.equal(lgetxattr(join(upper, "b"), "trusted.overlay.opaque")?.toString(), "y");
    assert.ok(!existsSync(join(upper, "b/.wh..wh..opq")));

    const mounts = [
      {
        type: "overlay",
        source: "overlay",
        options: [`lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${work}`],
      },
    ];
    await withTempMount(
      mounts,
      async (merged) => {
        assert.deepEqual(readdirSync(join(merged, "a")), ["file2"]);
        assert.ok(!existsSync(join(merged, "gone-dir")));
        assert.deepEqual(readdirSync(join(merged, "b")).sort(), ["new", "sub"]);
        assert.deepEqual(readdirSync(join(merged, "b/sub")), ["fresh"]);
        assert.equal(readFileSync(join(merged, "c/keep"), "utf8"), "keep");
      },
      { parent: dir },
    );
  });

  it("gives directories a layer only implies the attributes they have in the lower layers", async () => {
    const lower = fresh();
    mkdirSync(join(lower, "opt/app"), { recursive: true });
    const { chownSync, chmodSync } = await import("node:fs");
    chownSync(join(lower, "opt"), 5, 6);
    chmodSync(join(lower, "opt"), 0o1777);
    const upper = fresh();
    await applyLayer(Readable.from([await tarOf([{ name: "opt/app/file", body: "x" }])]), upper, {
      whiteouts: "overlay",
      parents: [lower],
    });
    assert.equal(statSync(join(upper, "opt")).mode & 0o7777, 0o1777);
    assert.equal(statSync(join(upper, "opt")).uid, 5);
    assert.equal(statSync(join(upper, "opt/app")).mode & 0o7777, 0o755);
  });

  it("keeps hostile paths inside root", async () => {
    const root = fresh();
    const outside = readdirSync(dir).sort();
    const data = await tarOf([
      { name: "../../etc/evil", body: "dotdot" },
      { name: "/abs/evil", body: "absolute" },
      { name: "esc", type: "symlink", linkname: "/" },
      { name: "esc/evil", body: "through an absolute symlink" },
      { name: "up", type: "symlink", linkname: "../../.." },
      { name: "up/x", body: "through a relative symlink" },
      { name: "nested/deeper", type: "symlink", linkname: "../../../../../../tmp" },
      { name: "nested/deeper/made/here", body: "mkdir through a symlink" },
    ]);
    await apply(data, root);
    assert.equal(readFileSync(join(root, "etc/evil"), "utf8"), "dotdot");
    assert.equal(readFileSync(join(root, "abs/evil"), "utf8"), "absolute");
    assert.equal(readFileSync(join(root, "evil"), "utf8"), "through an absolute symlink");
    assert.equal(readFileSync(join(root, "x"), "utf8"), "through a relative symlink");
    assert.equal(readFileSync(join(root, "tmp/made/here"), "utf8"), "mkdir through a symlink");
    assert.equal(readlinkSync(join(root, "esc")), "/");
    for (const p of ["/evil", "/etc/evil", "/abs", "/x", "/tmp/made", join(dir, "evil"), join(dir, "x")]) {
      assert.ok(!existsSync(p), p);
    }
    assert.deepEqual(readdirSync(dir).sort(), outside);

    // Whiteouts resolve the same way: these remove root's etc, not the host's.
    await apply(await tarOf([{ name: "esc/etc/.wh.evil" }, { name: "up/.wh.abs" }]), root, "remove");
    assert.ok(!existsSync(join(root, "etc/evil")));
    assert.ok(!existsSync(join(root, "abs")));
    await apply(await tarOf([{ name: "esc/.wh.etc" }]), root, "remove");
    assert.ok(!existsSync(join(root, "etc")));
    assert.ok(existsSync("/etc/passwd"));
    assert.deepEqual(readdirSync(dir).sort(), outside);
  });

  it("refuses hardlinks to targets outside root or missing from it", async () => {
    const root = fresh();
    const before = statSync("/etc/passwd").nlink;
    await assert.rejects(
      apply(await tarOf([{ name: "hl", type: "link", linkname: "../../etc/passwd" }]), root),
      (err: Error) => {
        assert.match(err.message, /hardlink target \.\.\/\.\.\/etc\/passwd does not exist/);
        return true;
      },
    );
    assert.ok(!existsSync(join(root, "hl")));
    assert.equal(statSync("/etc/passwd").nlink, before);

    // With the target present inside root, the same link name resolves there.
    const root2 = fresh();
    await apply(
      await tarOf([
        { name: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n" },
        { name: "hl", type: "link", linkname: "../../etc/passwd" },
        { name: "esc", type: "symlink", linkname: "/" },
        { name: "hl2", type: "link", linkname: "esc/etc/passwd" },
      ]),
      root2,
    );
    assert.equal(statSync(join(root2, "hl")).ino, statSync(join(root2, "etc/passwd")).ino);
    assert.equal(statSync(join(root2, "hl2")).ino, statSync(join(root2, "etc/passwd")).ino);
    assert.equal(statSync("/etc/passwd").nlink, before);
  });

  it("rejects whiteouts that would name a parent", async () => {
    const root = fresh();
    mkdirSync(join(root, "a"));
    for (const name of ["a/.wh..", "a/.wh.", "a/.wh..."]) {
      await assert.rejects(apply(await tarOf([{ name }]), root), /invalid whiteout|unsupported/, name);
    }
    assert.ok(existsSync(join(root, "a")));
  });

  it("sets xattrs from PAX records and skips security.* ones the kernel refuses", async () => {
    const root = fresh();
    const warnings: string[] = [];
    const data = await tarOfEntries([
      {
        name: "f",
        type: "file",
        mode: 0o755,
        uid: 0,
        gid: 0,
        size: 0,
        mtimeNs: 0n,
        xattrs: new Map([
          ["user.binary", Buffer.from([0, 0x80, 0xff])],
          ["trusted.note", Buffer.from("t")],
          ["security.capability", Buffer.from("not a capability")],
        ]),
      },
    ]);
    await applyLayer(Readable.from([data]), root, {
      whiteouts: "remove",
      onWarning: (m) => warnings.push(m),
    });
    assert.deepEqual(lgetxattr(join(root, "f"), "user.binary"), Buffer.from([0, 0x80, 0xff]));
    assert.equal(lgetxattr(join(root, "f"), "trusted.note")?.toString(), "t");
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? "", /security\.capability/);
  });

  it("unpacks a 1,000-file layer and counts every byte read", async () => {
    const root = fresh();
    const entries: Entry[] = [];
    for (let i = 0; i < 1000; i++)
      entries.push({ name: `d${i % 10}/file-${i}`, body: `content ${i}\n`.repeat(i % 7) });
    const data = Buffer.concat([await tarOf(entries), Buffer.alloc(8192)]);
    const { size } = await apply(data, root);
    assert.equal(size, data.length);
    let count = 0;
    for (const d of readdirSync(root)) count += readdirSync(join(root, d)).length;
    assert.equal(count, 1000);
    assert.equal(readFileSync(join(root, "d3/file-123"), "utf8"), "content 123\n".repeat(123 % 7));
  });

  it("stops when aborted", async () => {
    const root = fresh();
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    await assert.rejects(
      applyLayer(Readable.from([await tarOf([{ name: "f", body: "x" }])]), root, {
        whiteouts: "remove",
        signal: controller.signal,
      }),
      /stop/,
    );
    assert.ok(!existsSync(join(root, "f")));
  });
});

describe("decompressIfNeeded", () => {
  it("reads plain and gzip layers, sniffing gzip whatever the media type says", async () => {
    const tar = await tarOf([{ name: "f", body: "hello" }]);
    const gz = gzipSync(tar);
    for (const [data, mediaType] of [
      [tar, "application/vnd.oci.image.layer.v1.tar"],
      [gz, "application/vnd.oci.image.layer.v1.tar+gzip"],
      [gz, "application/vnd.docker.image.rootfs.diff.tar.gzip"],
      [gz, "application/vnd.oci.image.layer.v1.tar"],
    ] as const) {
      const tap = new Sha256Tap();
      const chunks: Buffer[] = [];
      await pipeline(decompressIfNeeded(Readable.from([data]), mediaType), tap, async (source) => {
        for await (const c of source) chunks.push(c as Buffer);
      });
      assert.deepEqual(Buffer.concat(chunks), tar, mediaType);
      assert.equal(tap.digest, `sha256:${createHash("sha256").update(tar).digest("hex")}`);
      assert.equal(tap.size, tar.length);
    }
  });

  it("refuses zstd and media types that are not layers", async () => {
    assert.throws(
      () =>
        decompressIfNeeded(Readable.from([Buffer.alloc(1)]), "application/vnd.oci.image.layer.v1.tar+zstd"),
      { kind: "NotImplemented" },
    );
    assert.throws(() => decompressIfNeeded(Readable.from([Buffer.alloc(1)]), "application/json"), {
      kind: "InvalidArgument",
    });
    const zstd = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]);
    const stream = decompressIfNeeded(Readable.from([zstd]), "application/vnd.oci.image.layer.v1.tar");
    await assert.rejects(
      (async () => {
        for await (const _ of stream) {
          // drain
        }
      })(),
      { kind: "NotImplemented" },
    );
  });

  it("applies a gzip layer through the decompressor, and the tap yields its diffID", async () => {
    const root = mkdtempSync("/var/tmp/berth-apply-gz-");
    try {
      const tar = await tarOf([{ name: "a/b", body: "gz" }]);
      const tap = new Sha256Tap();
      const plain = decompressIfNeeded(
        Readable.from([gzipSync(tar)]),
        "application/vnd.oci.image.layer.v1.tar+gzip",
      );
      const { size } = await applyLayer(plain.pipe(tap), root, { whiteouts: "remove" });
      assert.equal(size, tar.length);
      assert.equal(tap.digest, `sha256:${createHash("sha256").update(tar).digest("hex")}`);
      assert.equal(readFileSync(join(root, "a/b"), "utf8"), "gz");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
