// ctr's image round trips, the same steps against berthd and Debian's containerd side by
// side: export a pulled image, import it into another namespace and into the other
// daemon, tag, push to a local registry and pull back by digest, check.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type DaemonUnderTest, daemonKinds } from "./daemons.js";
import { ctrOk, parseTable } from "./fixtures/ctr.js";
import { type TestImage, buildSimpleImage } from "./fixtures/images.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { tempDir } from "./fixtures/tmp.js";

describe("ctr image round trips", () => {
  let registry: Registry;
  let image: TestImage;
  let dir: string;
  const daemons = new Map<string, DaemonUnderTest>();

  before(async () => {
    registry = await startRegistry();
    image = await buildSimpleImage(registry.host, "berth/roundtrip", "v1");
    dir = await tempDir("ctr-images-");
    for (const { kind, start } of daemonKinds) daemons.set(kind, await start());
  });

  after(async () => {
    for (const d of daemons.values()) await d.stop();
    await registry?.stop();
  });

  const imageRefs = async (d: DaemonUnderTest, namespace?: string) =>
    parseTable((await ctrOk(d.address, ["images", "ls"], { namespace })).stdout);

  for (const { kind } of daemonKinds) {
    describe(`against ${kind}`, () => {
      const archive = () => join(dir, `${kind}.tar`);
      const d = () => daemons.get(kind)!;

      test("pull then export writes an archive", async () => {
        await ctrOk(d().address, ["images", "pull", "--plain-http", image.ref]);
        await ctrOk(d().address, ["images", "export", archive(), image.ref]);
      });

      test("import into another namespace whose daemon already has the blobs", async () => {
        await ctrOk(d().address, ["images", "import", archive()], { namespace: "imported" });
        const row = (await imageRefs(d(), "imported")).find((r) => r.REF === image.ref);
        assert.ok(row, `no ${image.ref} in namespace imported`);
        assert.equal(row.DIGEST, image.manifestDigest);
        const content = parseTable(
          (await ctrOk(d().address, ["content", "ls"], { namespace: "imported" })).stdout,
        );
        for (const digest of [
          image.manifestDigest,
          image.configDigest,
          ...image.layers.map((l) => l.digest),
        ]) {
          assert.ok(
            content.some((r) => r.DIGEST === digest),
            `content ls in imported lacks ${digest}`,
          );
        }
      });

      test("content of another namespace stays invisible until imported", async () => {
        const content = parseTable(
          (await ctrOk(d().address, ["content", "ls"], { namespace: "untouched" })).stdout,
        );
        assert.equal(content.length, 0, JSON.stringify(content));
      });

      test("images check reports the imported image complete", async () => {
        const rows = parseTable(
          (await ctrOk(d().address, ["images", "check"], { namespace: "imported" })).stdout,
        );
        const row = rows.find((r) => r.REF === image.ref);
        assert.ok(row, JSON.stringify(rows));
        // "complete (n/n)": every blob the image needs is available in this namespace.
        assert.match(row.STATUS ?? "", /^complete \((\d+)\/\1\)$/, JSON.stringify(row));
      });

      test("images tag adds a second name for the same digest", async () => {
        const tagged = `${registry.host}/berth/roundtrip:tagged-${kind}`;
        await ctrOk(d().address, ["images", "tag", image.ref, tagged]);
        const row = (await imageRefs(d())).find((r) => r.REF === tagged);
        assert.equal(row?.DIGEST, image.manifestDigest);
      });

      test("images ls filters on a quoted dotted label key", async () => {
        const tagged = `${registry.host}/berth/roundtrip:tagged-${kind}`;
        await ctrOk(d().address, ["images", "label", tagged, "x.y=z"]);
        const ls = async (filter: string) =>
          (await ctrOk(d().address, ["images", "ls", "-q", filter])).stdout
            .trim()
            .split("\n")
            .filter(Boolean);
        assert.deepEqual(await ls('labels."x.y"==z'), [tagged]);
        assert.deepEqual(await ls('labels."x.y"~=|^z$|'), [tagged]);
        assert.equal((await ls('labels."x.y"!=z')).includes(tagged), false);
        // containerd joins the rest of an unquoted path with dots to name a label.
        assert.deepEqual(await ls("labels.x.y==z"), [tagged]);
      });

      test("push --plain-http to the registry, then pull back by digest in a fresh namespace", async () => {
        const tagged = `${registry.host}/berth/roundtrip:tagged-${kind}`;
        await ctrOk(d().address, ["images", "push", "--plain-http", tagged]);
        const byDigest = `${registry.host}/berth/roundtrip@${image.manifestDigest}`;
        await ctrOk(d().address, ["images", "pull", "--plain-http", byDigest], {
          namespace: `pulled-${kind}`,
        });
        const row = (await imageRefs(d(), `pulled-${kind}`)).find((r) => r.REF === byDigest);
        assert.equal(row?.DIGEST, image.manifestDigest);
      });

      test("images check reports an image whose layer is gone as incomplete", async () => {
        const namespace = `partial-${kind}`;
        await ctrOk(d().address, ["images", "pull", "--plain-http", image.ref], { namespace });
        await ctrOk(d().address, ["content", "rm", image.layers[0]?.digest ?? ""], { namespace });
        const rows = parseTable((await ctrOk(d().address, ["images", "check"], { namespace })).stdout);
        const row = rows.find((r) => r.REF === image.ref);
        assert.match(row?.STATUS ?? "", /^incomplete \((\d+)\/(\d+)\)$/, JSON.stringify(rows));
      });
    });
  }

  test(
    "an archive exported by one daemon imports into the other",
    { skip: daemonKinds.length < 2 ? "BERTH_E2E_DAEMONS names only one daemon" : false },
    async () => {
      for (const [from, to] of [
        ["berthd", "containerd"],
        ["containerd", "berthd"],
      ] as const) {
        const target = daemons.get(to)!;
        const ns = `from-${from}`;
        await ctrOk(target.address, ["images", "import", join(dir, `${from}.tar`)], { namespace: ns });
        const row = (await imageRefs(target, ns)).find((r) => r.REF === image.ref);
        assert.equal(row?.DIGEST, image.manifestDigest, `${from} archive into ${to}`);
        const check = parseTable(
          (await ctrOk(target.address, ["images", "check"], { namespace: ns })).stdout,
        );
        assert.match(
          check.find((r) => r.REF === image.ref)?.STATUS ?? "",
          /^complete \((\d+)\/\1\)$/,
          `${from} archive into ${to}`,
        );
      }
    },
  );
});
