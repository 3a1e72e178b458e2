import assert from "node:assert/strict";
import { test } from "node:test";
import { fakeImage, imageRecord } from "../testing/fakes.js";
import { harness } from "../testing/harness.js";
import { removeImage } from "./remove-image.js";

const signal = new AbortController().signal;
const spec = (image: string) => ({ image: { image, annotations: {} } });

test("RemoveImage deletes every reference of the image, the last one synchronously", async (t) => {
  const h = await harness(t);
  const img = fakeImage("quay.io/app/web:v2");
  img.references.push("quay.io/app/web@sha256:".padEnd(87, "e"));
  h.images.add(img);
  for (const name of img.references) h.daemon.imageRecords.set(name, imageRecord(name, img));
  await removeImage(h.cri, spec("quay.io/app/web:v2"), signal);
  assert.equal(h.daemon.imageRecords.size, 0);
  const deletes = h.daemon.requestsOf<{ name: string; sync: boolean }>("images.delete");
  assert.deepEqual(
    deletes.map((d) => d.name),
    img.references,
  );
  assert.deepEqual(
    deletes.map((d) => d.sync),
    [false, false, true],
  );
  assert.ok(h.images.invalidations > 0, "the next listing reads the daemon again");
});

test("removing an image that is not there, or whose records went meanwhile, is no error", async (t) => {
  const h = await harness(t);
  await removeImage(h.cri, spec("absent:1"), signal);
  await removeImage(h.cri, spec("busybox"), signal);
  assert.equal(h.daemon.requestsOf("images.delete").length, 2, "both references of busybox were tried");
});
