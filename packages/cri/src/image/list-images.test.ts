import assert from "node:assert/strict";
import { test } from "node:test";
import { fakeImage } from "../testing/fakes.js";
import { harness } from "../testing/harness.js";
import { listImages } from "./list-images.js";

const signal = new AbortController().signal;
const filter = (image: string) => ({ filter: { image: { image, annotations: {} } } });

test("ListImages lists every image, or the one its filter names", async (t) => {
  const h = await harness(t);
  const web = h.images.add(fakeImage("quay.io/app/web:v2"));
  const all = await listImages(h.cri, { filter: undefined }, signal);
  assert.equal(all.images.length, 3, "the pause image, busybox and web");
  assert.ok(all.images.some((i) => i.id === web.id));
  assert.deepEqual(
    (await listImages(h.cri, filter("quay.io/app/web:v2"), signal)).images.map((i) => i.id),
    [web.id],
  );
  assert.deepEqual((await listImages(h.cri, filter(web.id), signal)).images[0]?.repoTags, [
    "quay.io/app/web:v2",
  ]);
  assert.deepEqual((await listImages(h.cri, filter("absent:1"), signal)).images, []);
});
