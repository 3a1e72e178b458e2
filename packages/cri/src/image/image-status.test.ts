import assert from "node:assert/strict";
import { test } from "node:test";
import { fakeImage } from "../testing/fakes.js";
import { harness } from "../testing/harness.js";
import { imageStatus } from "./image-status.js";

const signal = new AbortController().signal;
const spec = (image: string) => ({ image, annotations: {} });

test("ImageStatus finds an image by short name, full name or ID", async (t) => {
  const h = await harness(t);
  const img = h.images.add(fakeImage("quay.io/app/web:v2", { config: { User: "1001" } }));
  for (const ref of ["quay.io/app/web:v2", img.id]) {
    const { image } = await imageStatus(h.cri, { image: spec(ref), verbose: false }, signal);
    assert.equal(image?.id, img.id, ref);
    assert.deepEqual(image?.repoTags, ["quay.io/app/web:v2"]);
    assert.equal(image?.uid?.value, 1001n);
    assert.equal(image?.size, 1234n);
  }
  const busybox = await imageStatus(h.cri, { image: spec("busybox"), verbose: false }, signal);
  assert.deepEqual(busybox.image?.repoTags, ["docker.io/library/busybox:latest"]);
});

test("an image that is not there is an empty answer, not an error; verbose adds the config", async (t) => {
  const h = await harness(t);
  assert.deepEqual(await imageStatus(h.cri, { image: spec("absent:1"), verbose: true }, signal), {
    image: undefined,
    info: {},
  });
  const { info } = await imageStatus(h.cri, { image: spec("busybox"), verbose: true }, signal);
  const parsed = JSON.parse(info.info ?? "{}");
  assert.equal(parsed.chainID, (await h.images.resolve("busybox")).chainId);
  assert.deepEqual(parsed.imageSpec.config.Cmd, ["sh"]);
});
