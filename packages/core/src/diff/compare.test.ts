import assert from "node:assert/strict";
import {
  chmodSync,
  chownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import tarStream from "tar-stream";
import { withTempMount } from "../mount/mount-all.js";
import { copyTree } from "../snapshots/copy-tree.js";
import { S_IFCHR, S_IFIFO, makedev, mknod } from "../sys/device.js";
import { lgetxattr, lsetxattr } from "../sys/xattr.js";
import { applyLayer } from "./apply.js";
import { writeDiff, writeDiffFromOverlayUpper } from "./compare.js";
import { TarReader } from "./tar.js";

// A file capability granting cap_net_raw (VFS_CAP_REVISION_2, effective).
const netRaw = Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

async function diffOf(write: (out: PassThrough) => Promise<void>): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  await write(out);
  out.end();
  return Buffer.concat(chunks);
}

async function entryNames(tar: Buffer): Promise<string[]> {
  const reader = new TarReader(Readable.from([tar]));
  const names: string[] = [];
  for (let h = await reader.next(); h; h = await reader.next()) names.push(h.name);
  return names;
}

/** Every difference between two trees that a layer can express (mtimes to the second). */
function differences(a: string, b: string, rel = ""): string[] {
  const out: string[] = [];
  const names = (d: string) => readdirSync(d).sort();
  const na = names(join(a, rel));
  const nb = names(join(b, rel));
  if (na.join("/") !== nb.join("/")) out.push(`${rel || "/"}: [${na}] vs [${nb}]`);
  for (const name of na.filter((n) => nb.includes(n))) {
    const r = rel === "" ? name : `${rel}/${name}`;
    const pa = join(a, r);
    const pb = join(b, r);
    const sa = lstatSync(pa, { bigint: true });
    const sb = lstatSync(pb, { bigint: true });
    for (const key of ["mode", "uid", "gid", "rdev"] as const) {
      if (sa[key] !== sb[key]) out.push(`${r}: ${key} ${sa[key]} vs ${sb[key]}`);
    }
    if (sa.mtimeNs / 1_000_000_000n !== sb.mtimeNs / 1_000_000_000n)
      out.push(`${r}: mtime ${sa.mtimeNs} vs ${sb.mtimeNs}`);
    if (sa.mode !== sb.mode) continue;
    if (sa.isFile() && !readFileSync(pa).equals(readFileSync(pb))) out.push(`${r}: content`);
    if (sa.isSymbolicLink() && readlinkSync(pa) !== readlinkSync(pb)) out.push(`${r}: link target`);
    const ca = lgetxattr(pa, "security.capability");
    const cb = lgetxattr(pb, "security.capability");
    if (String(ca?.toString("hex")) !== String(cb?.toString("hex"))) out.push(`${r}: capability`);
    if (sa.isDirectory() && sb.isDirectory()) out.push(...differences(a, b, r));
  }
  return out;
}

async function baseLayer(): Promise<Buffer> {
  const pack = tarStream.pack();
  const mtime = new Date(1_600_000_000_000);
  const entries: [Partial<tarStream.Header> & { name: string }, string?][] = [
    [{ name: "etc", type: "directory", mode: 0o755 }],
    [{ name: "etc/hostname", mode: 0o644 }, "lower\n"],
    [{ name: "etc/same-size", mode: 0o644 }, "AAAA"],
    [{ name: "etc/chmod-me", mode: 0o644 }, "x"],
    [{ name: "etc/chown-me", mode: 0o644 }, "x"],
    [{ name: "etc/delete-me", mode: 0o644 }, "x"],
    [{ name: "etc/link", type: "symlink", linkname: "hostname" }],
    [{ name: "usr/lib/deep/unchanged", mode: 0o644 }, "still here"],
    [{ name: "var/cache", type: "directory", mode: 0o755 }],
    [{ name: "var/cache/a/b", mode: 0o644 }, "cached"],
    [{ name: "was-file", mode: 0o644 }, "file"],
    [{ name: "was-dir/child", mode: 0o644 }, "child"],
    [{ name: "opt", type: "directory", mode: 0o755 }],
  ];
  for (const [header, body] of entries) pack.entry({ mtime, uid: 0, gid: 0, ...header }, body ?? "");
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe("writeDiff", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync("/var/tmp/berth-compare-");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const mk = (name: string) => {
    const p = join(dir, name);
    mkdirSync(p);
    return p;
  };

  it("writes a layer that turns a copy of lower into upper", async () => {
    const lower = mk("lower");
    await applyLayer(Readable.from([await baseLayer()]), lower, { whiteouts: "remove" });
    const upper = mk("upper");
    await copyTree(lower, upper);

    writeFileSync(join(upper, "etc/hostname"), "upper, longer\n");
    // Same size and same whole-second mtime: only the content says it changed.
    writeFileSync(join(upper, "etc/same-size"), "BBBB");
    utimesSync(join(upper, "etc/same-size"), 1_600_000_000, 1_600_000_000);
    chmodSync(join(upper, "etc/chmod-me"), 0o4755);
    chownSync(join(upper, "etc/chown-me"), 1000, 1000);
    rmSync(join(upper, "etc/delete-me"));
    rmSync(join(upper, "etc/link"));
    symlinkSync("/elsewhere", join(upper, "etc/link"));
    rmSync(join(upper, "var/cache/a"), { recursive: true });
    rmSync(join(upper, "was-file"));
    mkdirSync(join(upper, "was-file"));
    writeFileSync(join(upper, "was-file/inside"), "now a dir");
    rmSync(join(upper, "was-dir"), { recursive: true });
    writeFileSync(join(upper, "was-dir"), "now a file");
    mkdirSync(join(upper, "new/nested"), { recursive: true });
    writeFileSync(join(upper, "new/nested/a"), "pair");
    linkSync(join(upper, "new/nested/a"), join(upper, "new/b"));
    mknod(join(upper, "new/null"), S_IFCHR | 0o666, makedev(1, 3));
    mknod(join(upper, "new/fifo"), S_IFIFO | 0o600);
    writeFileSync(join(upper, "opt/ping"), "elf");
    lsetxattr(join(upper, "opt/ping"), "security.capability", netRaw);
    chmodSync(join(upper, "usr"), 0o700);
    assert.ok(differences(lower, upper).length > 0);

    const layer = await diffOf((out) => writeDiff(lower, upper, out));
    const names = await entryNames(layer);
    assert.ok(names.includes("etc/.wh.delete-me"), names.join(" "));
    assert.ok(names.includes("var/cache/.wh.a"));
    assert.ok(names.includes("etc/same-size"));
    assert.ok(names.includes("var/cache/"), "parents of a change are written");
    assert.ok(!names.includes("usr/lib/deep/unchanged"));
    assert.ok(!names.includes("usr/lib/"));
    assert.ok(!names.includes("var/cache/a/b"));

    const result = mk("result");
    await copyTree(lower, result);
    const { size } = await applyLayer(Readable.from([layer]), result, { whiteouts: "remove" });
    assert.equal(size, layer.length);
    // The root directory is not part of a layer.
    assert.deepEqual(differences(result, upper), []);
    assert.equal(lstatSync(join(result, "new/b")).ino, lstatSync(join(result, "new/nested/a")).ino);
    assert.deepEqual(lgetxattr(join(result, "opt/ping"), "security.capability"), netRaw);
    assert.equal(lstatSync(join(result, "etc/chmod-me")).mode & 0o7777, 0o4755);
  });

  it("writes a whole tree when there is no lower", async () => {
    const upper = join(dir, "upper");
    const layer = await diffOf((out) => writeDiff(null, upper, out));
    const result = mk("from-scratch");
    await applyLayer(Readable.from([layer]), result, { whiteouts: "remove" });
    assert.deepEqual(differences(result, upper), []);
    const names = await entryNames(layer);
    assert.ok(!names.some((n) => n.includes(".wh.")));
  });

  it("produces the same bytes for the same trees", async () => {
    const a = await diffOf((out) => writeDiff(join(dir, "lower"), join(dir, "upper"), out));
    const b = await diffOf((out) => writeDiff(join(dir, "lower"), join(dir, "upper"), out));
    assert.ok(a.equals(b));
  });

  it("reads an overlay upper dir directly, whiteouts and opaque dirs included", async () => {
    const lower = mk("ovl-lower");
    await applyLayer(Readable.from([await baseLayer()]), lower, { whiteouts: "remove" });
    const upper = mk("ovl-upper");
    const work = mk("ovl-work");
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
        writeFileSync(join(merged, "etc/hostname"), "changed\n");
        rmSync(join(merged, "etc/delete-me"));
        rmSync(join(merged, "var/cache"), { recursive: true });
        mkdirSync(join(merged, "var/cache"));
        writeFileSync(join(merged, "var/cache/fresh"), "fresh");
        chownSync(join(merged, "etc/chown-me"), 7, 7);
        mkdirSync(join(merged, "new"));
        writeFileSync(join(merged, "new/file"), "new");
      },
      { parent: dir },
    );
    assert.equal(lgetxattr(join(upper, "var/cache"), "trusted.overlay.opaque")?.toString(), "y");

    const layer = await diffOf((out) => writeDiffFromOverlayUpper(upper, out));
    const names = await entryNames(layer);
    assert.ok(names.includes("etc/.wh.delete-me"), names.join(" "));
    assert.ok(names.includes("var/cache/.wh..wh..opq"));

    const result = mk("ovl-result");
    await copyTree(lower, result);
    await applyLayer(Readable.from([layer]), result, { whiteouts: "remove" });
    await withTempMount(
      [{ type: "overlay", source: "overlay", options: [`lowerdir=${upper}:${lower}`] }],
      async (merged) => assert.deepEqual(differences(result, merged), []),
      { parent: dir },
    );
  });
});
