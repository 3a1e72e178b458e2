import assert from "node:assert/strict";
import { test } from "node:test";
import { imageUser, isImageId, splitReferences } from "./image-store.js";

const id = `sha256:${"a".repeat(64)}`;

test("references split into repo tags and repo digests; IDs are neither", () => {
  const refs = [
    id,
    "127.0.0.1:5000/berth/x:v1",
    `127.0.0.1:5000/berth/x@sha256:${"b".repeat(64)}`,
    "not a ref",
  ];
  assert.deepEqual(splitReferences(refs), {
    repoTags: ["127.0.0.1:5000/berth/x:v1"],
    repoDigests: [`127.0.0.1:5000/berth/x@sha256:${"b".repeat(64)}`],
  });
  assert.equal(isImageId(id), true);
  assert.equal(isImageId("busybox"), false);
});

test("the image's user: a uid, or a name, the group dropped", () => {
  assert.deepEqual(imageUser({ config: { User: "1000:1000" } }), { uid: 1000, username: "" });
  assert.deepEqual(imageUser({ config: { User: "nobody" } }), { username: "nobody" });
  assert.deepEqual(imageUser({ config: { User: "" } }), { username: "" });
  assert.deepEqual(imageUser({}), { username: "" });
});
