// Hostile layer tarballs applied through the Diff service: `..` paths, absolute paths,
// symlinks and hardlinks pointing out of the root, device nodes. Whatever the daemon
// does with each entry — refuse the layer or neutralise the entry inside the root —
// nothing may be written outside the snapshot. Checked against berthd and containerd.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, lstatSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { pack } from "tar-stream";
import { type DaemonUnderTest, daemonKinds } from "./daemons.js";
import { mountAll, unmount } from "./fixtures/mounts.js";
import { tempDir } from "./fixtures/tmp.js";
import { type Clients, clients, writeBlob } from "./grpc.js";

type Entry = {
  name: string;
  type?: "file" | "symlink" | "link" | "directory" | "character-device";
  linkname?: string;
  data?: string;
  devmajor?: number;
  devminor?: number;
};

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on("data", (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((r) => p.on("end", () => r()));
  for (const e of entries) {
    const type = e.type ?? "file";
    const header = {
      name: e.name,
      type,
      linkname: e.linkname,
      mode: type === "directory" ? 0o755 : 0o644,
      devmajor: e.devmajor,
      devminor: e.devminor,
      uid: 0,
      gid: 0,
      mtime: new Date(0),
    };
    if (type === "file") p.entry(header, e.data ?? "evil");
    else p.entry(header);
  }
  p.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

const tag = `berth-evil-${randomBytes(4).toString("hex")}`;
const outside = (name: string) => [
  join("/", name),
  join("/etc", name),
  join("/var/tmp", name),
  join("/tmp", name),
  join("/root", name),
];

const cases: { name: string; entries: Entry[]; escapes: string[] }[] = [
  {
    name: "dot-dot path",
    entries: [{ name: `../../../../${tag}-dotdot` }],
    escapes: outside(`${tag}-dotdot`),
  },
  {
    name: "absolute path",
    entries: [{ name: `/${tag}-abs` }, { name: `/etc/${tag}-abs` }],
    escapes: outside(`${tag}-abs`),
  },
  {
    name: "file through a symlink to /",
    entries: [
      { name: "esc", type: "symlink", linkname: "/" },
      { name: `esc/${tag}-viasym` },
      { name: `esc/etc/${tag}-viasym` },
    ],
    escapes: outside(`${tag}-viasym`),
  },
  {
    name: "file through a relative symlink climbing out",
    entries: [
      { name: "up", type: "symlink", linkname: "../../../../../../.." },
      { name: `up/${tag}-viaup` },
      { name: `up/var/tmp/${tag}-viaup` },
    ],
    escapes: outside(`${tag}-viaup`),
  },
  {
    name: "symlink chain then directory",
    entries: [
      { name: "a", type: "symlink", linkname: "b" },
      { name: "b", type: "symlink", linkname: "/var/tmp" },
      { name: `a/${tag}-chain/`, type: "directory" },
      { name: `a/${tag}-chain/f` },
    ],
    escapes: outside(`${tag}-chain`),
  },
  {
    name: "hardlink to a host file",
    entries: [
      { name: "hl", type: "link", linkname: "../../../../../etc/passwd" },
      { name: "hl2", type: "link", linkname: "/etc/passwd" },
    ],
    escapes: [],
  },
  {
    name: "device node",
    entries: [
      { name: "dev/", type: "directory" },
      { name: "dev/null-ish", type: "character-device", devmajor: 1, devminor: 3 },
    ],
    escapes: [],
  },
];

for (const { kind, start } of daemonKinds) {
  describe(`hostile layers against ${kind}`, () => {
    let daemon: DaemonUnderTest;
    let c: Clients;
    const passwd = statSync("/etc/passwd");
    before(async () => {
      daemon = await start();
      const setup = clients(daemon.address, "hostile");
      await setup.leases.create({ id: "hostile-test" });
      setup.close();
      c = clients(daemon.address, "hostile", "hostile-test");
    });
    after(async () => {
      c?.close();
      await daemon?.stop();
    });

    for (const [i, tc] of cases.entries()) {
      test(tc.name, async () => {
        const blob = await tarOf(tc.entries);
        const digest = await writeBlob(c, blob, { ref: `hostile-${i}` });
        const key = `hostile-${i}`;
        const mounts = (await c.snapshots.prepare({ snapshotter: "overlayfs", key })).mounts;
        let applyError: unknown = null;
        try {
          await c.diff.apply({
            diff: { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest, size: blob.length },
            mounts,
          });
        } catch (err) {
          applyError = err;
        }
        for (const p of tc.escapes)
          assert.equal(existsSync(p), false, `${p} was written outside the snapshot`);
        const after = statSync("/etc/passwd");
        assert.equal(after.nlink, passwd.nlink, "/etc/passwd gained a hard link");
        assert.equal(after.mtimeMs, passwd.mtimeMs, "/etc/passwd changed");
        if (applyError === null) {
          // Accepted: whatever landed is inside the rootfs.
          const target = await tempDir("hostile-");
          await mountAll(
            mounts.map((m) => ({ type: m.type, source: m.source, options: m.options })),
            target,
          );
          try {
            for (const name of ["hl", "hl2"]) {
              const p = join(target, name);
              if (existsSync(p))
                assert.notEqual(lstatSync(p).ino, passwd.ino, `${name} links the host's /etc/passwd`);
            }
          } finally {
            await unmount(target);
          }
        } else {
          assert.match(String((applyError as Error).message), /\S/, "a refused layer names why");
        }
        await c.snapshots.remove({ snapshotter: "overlayfs", key });
      });
    }
  });
}
