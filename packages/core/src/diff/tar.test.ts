import assert from "node:assert/strict";
import { PassThrough, Readable } from "node:stream";
import { describe, it } from "node:test";
import tarStream from "tar-stream";
import { type TarEntry, type TarHeader, TarReader, TarWriter } from "./tar.js";

async function writeTar(entries: [TarEntry, Buffer?][]): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  const tar = new TarWriter(out);
  for (const [entry, body] of entries) await tar.add(entry, body ? Readable.from([body]) : undefined);
  await tar.finish();
  out.end();
  return Buffer.concat(chunks);
}

async function readTar(
  data: Buffer,
  chunkSize = 777,
): Promise<{ headers: TarHeader[]; bodies: Buffer[]; size: number }> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunkSize) pieces.push(data.subarray(i, i + chunkSize));
  const reader = new TarReader(Readable.from(pieces));
  const headers: TarHeader[] = [];
  const bodies: Buffer[] = [];
  for (let h = await reader.next(); h; h = await reader.next()) {
    headers.push(h);
    const parts: Buffer[] = [];
    for await (const chunk of reader.body()) parts.push(chunk);
    bodies.push(Buffer.concat(parts));
  }
  await reader.drain();
  return { headers, bodies, size: reader.bytesRead };
}

const base = { mode: 0o644, uid: 0, gid: 0, size: 0, mtimeNs: 1_700_000_000_000_000_000n };

describe("tar codec", () => {
  it("round-trips names, links, devices, owners and binary xattrs", async () => {
    const longName = `${"deep/".repeat(40)}file`;
    const unsplittable = "x".repeat(180);
    const capability = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x80, 0x00, 0x00, 0x00, 0xff]);
    const data = await writeTar([
      [{ ...base, name: "dir", type: "directory", mode: 0o1777 }],
      [
        { ...base, name: "dir/file", type: "file", size: 5, mode: 0o4755, uid: 3_000_000, gid: 7 },
        Buffer.from("hello"),
      ],
      [{ ...base, name: longName, type: "file", size: 2 }, Buffer.from("hi")],
      [{ ...base, name: unsplittable, type: "file" }],
      [
        {
          ...base,
          name: "héllo-ünïcode",
          type: "file",
          xattrs: new Map([["security.capability", capability]]),
        },
      ],
      [{ ...base, name: "hard", type: "link", linkname: "dir/file" }],
      [{ ...base, name: "sym", type: "symlink", linkname: "t".repeat(150) }],
      [{ ...base, name: "null", type: "char", devmajor: 1, devminor: 3 }],
      [{ ...base, name: "fifo", type: "fifo" }],
    ]);
    const { headers, bodies, size } = await readTar(data);
    assert.equal(size, data.length);
    assert.deepEqual(
      headers.map((h) => [h.name, h.type]),
      [
        ["dir/", "directory"],
        ["dir/file", "file"],
        [longName, "file"],
        [unsplittable, "file"],
        ["héllo-ünïcode", "file"],
        ["hard", "link"],
        ["sym", "symlink"],
        ["null", "char"],
        ["fifo", "fifo"],
      ],
    );
    assert.equal(headers[0]?.mode, 0o1777);
    assert.equal(headers[1]?.mode, 0o4755);
    assert.equal(headers[1]?.uid, 3_000_000);
    assert.equal(headers[1]?.mtimeNs, base.mtimeNs);
    assert.equal(bodies[1]?.toString(), "hello");
    assert.equal(bodies[2]?.toString(), "hi");
    assert.deepEqual(headers[4]?.xattrs.get("security.capability"), capability);
    assert.equal(headers[5]?.linkname, "dir/file");
    assert.equal(headers[6]?.linkname, "t".repeat(150));
    assert.equal(headers[7]?.devmajor, 1);
    assert.equal(headers[7]?.devminor, 3);
  });

  it("reads tar-stream's archives, PAX records and trailing padding included", async () => {
    const pack = tarStream.pack();
    pack.entry({ name: `${"p/".repeat(60)}long`, mode: 0o600, mtime: new Date(1_000_000_000) }, "body");
    pack.entry({ name: "x", pax: { "SCHILY.xattr.user.note": "text" } }, "");
    pack.entry({ name: "d", type: "directory" });
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    // GNU tar pads archives to 10 KiB records; the padding counts as read.
    const data = Buffer.concat([...chunks, Buffer.alloc(10240 - (Buffer.concat(chunks).length % 10240))]);
    const { headers, bodies, size } = await readTar(data, 100);
    assert.equal(size, data.length);
    assert.equal(headers[0]?.name, `${"p/".repeat(60)}long`);
    assert.equal(headers[0]?.mtimeNs, 1_000_000_000_000_000n);
    assert.equal(bodies[0]?.toString(), "body");
    assert.equal(headers[1]?.xattrs.get("user.note")?.toString(), "text");
    assert.equal(headers[2]?.type, "directory");
  });

  it("skips bodies the caller does not read, and ignores sizes on header-only entries", async () => {
    const data = await writeTar([
      [{ ...base, name: "big", type: "file", size: 3000 }, Buffer.alloc(3000, 7)],
      [{ ...base, name: "after", type: "file", size: 1 }, Buffer.from("!")],
    ]);
    const reader = new TarReader(Readable.from([data]));
    assert.equal((await reader.next())?.name, "big");
    assert.equal((await reader.next())?.name, "after");
    assert.equal(await reader.next(), null);

    // A symlink header that claims a size has no body (as Go's archive/tar reads it).
    const block = Buffer.from(data.subarray(0, 512));
    block.write("lnk\0", 0, "latin1");
    block[156] = "2".charCodeAt(0);
    block.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of block) sum += b;
    block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "latin1");
    const odd = Buffer.concat([block, data.subarray(512 + 3072)]);
    const { headers } = await readTar(odd);
    assert.deepEqual(
      headers.map((h) => h.name),
      ["lnk", "after"],
    );
  });

  it("rejects corrupt headers and truncated streams", async () => {
    const data = await writeTar([[{ ...base, name: "f", type: "file", size: 600 }, Buffer.alloc(600)]]);
    const corrupt = Buffer.from(data);
    corrupt[0] = "g".charCodeAt(0);
    await assert.rejects(readTar(corrupt), /checksum/);
    await assert.rejects(readTar(data.subarray(0, 700)), /unexpected end of stream/);
  });
});
