// ctr's image round trips against berthd and containerd 1.6 side by side: export and
// import (into another namespace, and each daemon's archive into the other daemon, also
// when the blobs already exist in another namespace), tag, push to a local registry and
// pull back by digest, and `ctr images check`.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type DaemonUnderTest, daemonKinds } from "./daemons.js";
import { ctr, ctrOk, parseTable } from "./fixtures/ctr.js";
import { type PushedImage, buildSimpleImage } from "./fixtures/images.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { removeDir, tempDir } from "./fixtures/tmp.js";

/** `ctr images check` rows of a namespace, by ref. */
async function check(address: string, namespace: string): Promise<Map<string, Record<string, string>>> {
  const rows = parseTable((await ctrOk(address, ["images", "check"], { namespace })).stdout);
  return new Map(rows.map((r) => [r.REF ?? "", r]));
}

function assertComplete(rows: Map<string, Record<string, string>>, ref: string): void {
  const row = rows.get(ref);
  assert.ok(row, `${ref} is not listed by ctr images check: ${JSON.stringify([...rows.values()])}`);
  assert.match(row.STATUS ?? "", /^complete \((\d+)\/\1\)$/, `${ref}: ${JSON.stringify(row)}`);
}

describe("ctr images export, import, tag, push and check", () => {
  let registry: Registry;
  let image: PushedImage;
  let dir: string;
  const daemons = new Map<string, DaemonUnderTest>();
  const archives = new Map<string, string>();

  before(async () => {
    registry = await startRegistry();
    image = await buildSimpleImage(registry.host, "berth/roundtrip", "v1");
    dir = await tempDir("ctr-images-");
    for (const { kind, start } of daemonKinds) daemons.set(kind, await start());
  });

  after(async () => {
    for (const d of daemons.values()) await d.stop();
    await registry?.stop();
    if (dir) await removeDir(dir);
  });

  for (const { kind } of daemonKinds) {
    test(`${kind}: pull, export, and import into another namespace`, async () => {
      const d = daemons.get(kind)!;
      await ctrOk(d.address, ["images", "pull", "--plain-http", image.ref]);
      const archive = join(dir, `${kind}.tar`);
      await ctrOk(d.address, ["images", "export", archive, image.ref]);
      archives.set(kind, archive);
      // The blobs already exist in namespace "default": the import must add them to its own.
      const r = await ctrOk(d.address, ["images", "import", archive], { namespace: "imported" });
      assert.match(r.stdout, new RegExp(image.ref.replace(/[.]/g, "\\.")));
      assertComplete(await check(d.address, "imported"), image.ref);
      const content = parseTable(
        (await ctrOk(d.address, ["content", "ls"], { namespace: "imported" })).stdout,
      );
      for (const digest of [image.manifestDigest, image.configDigest, ...image.layers.map((l) => l.digest)]) {
        assert.ok(
          content.some((c) => c.DIGEST === digest),
          `${digest} not in namespace imported: ${JSON.stringify(content)}`,
        );
      }
    });
  }

  for (const { kind } of daemonKinds) {
    for (const { kind: from } of daemonKinds) {
      if (from === kind) continue;
      test(`${kind}: imports ${from}'s archive, into a fresh namespace and beside the same blobs`, async () => {
        const d = daemons.get(kind)!;
        const archive = archives.get(from);
        assert.ok(archive, `no archive from ${from}: its export test failed`);
        for (const namespace of ["fresh", "default"]) {
          if (namespace === "default") await ctrOk(d.address, ["images", "rm", image.ref], { namespace });
          await ctrOk(d.address, ["images", "import", archive], { namespace });
          assertComplete(await check(d.address, namespace), image.ref);
        }
        // Runs from the imported image.
        await ctrOk(d.address, ["images", "unpack", image.ref], { namespace: "fresh" }).catch(async () => {
          // ctr 1.6 unpacks on import already; unpack of an unpacked image may say so.
          const r = await ctr(d.address, ["snapshots", "ls"], { namespace: "fresh" });
          assert.match(r.stdout, /Committed/);
        });
      });
    }
  }

  for (const { kind } of daemonKinds) {
    test(`${kind}: tag, push to the registry and pull back by digest`, async () => {
      const d = daemons.get(kind)!;
      const pushed = `${registry.host}/berth/pushed-from-${kind}:v2`;
      await ctrOk(d.address, ["images", "tag", image.ref, pushed]);
      const tagged = parseTable((await ctrOk(d.address, ["images", "ls"])).stdout);
      const source = tagged.find((r) => r.REF === image.ref);
      const target = tagged.find((r) => r.REF === pushed);
      assert.ok(source && target, `tags: ${JSON.stringify(tagged)}`);
      assert.equal(target.DIGEST, source.DIGEST);
      const again = await ctr(d.address, ["images", "tag", image.ref, pushed]);
      assert.notEqual(again.exitCode, 0, "a second tag onto an existing name must fail without --force");
      await ctrOk(d.address, ["images", "tag", "--force", image.ref, pushed]);

      await ctrOk(d.address, ["images", "push", "--plain-http", pushed]);
      const res = await fetch(`${registry.url}/v2/berth/pushed-from-${kind}/manifests/v2`, {
        headers: { Accept: `${image.mediaType}` },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("docker-content-digest"), image.manifestDigest);
      await res.arrayBuffer();

      const byDigest = `${registry.host}/berth/pushed-from-${kind}@${image.manifestDigest}`;
      await ctrOk(d.address, ["images", "pull", "--plain-http", byDigest], { namespace: "pulled" });
      assertComplete(await check(d.address, "pulled"), byDigest);
    });
  }

  for (const { kind } of daemonKinds) {
    test(`${kind}: ctr images check reports missing content`, async () => {
      const d = daemons.get(kind)!;
      const namespace = "partial";
      await ctrOk(d.address, ["images", "pull", "--plain-http", image.ref], { namespace });
      const layer = image.layers[0]?.digest ?? "";
      await ctrOk(d.address, ["content", "rm", layer], { namespace });
      const row = (await check(d.address, namespace)).get(image.ref);
      assert.ok(row, "the image is still listed");
      assert.match(row.STATUS ?? "", /^incomplete \((\d+)\/(\d+)\)$/, JSON.stringify(row));
    });
  }
});
