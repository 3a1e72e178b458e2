import assert from "node:assert/strict";
import { test } from "node:test";
import { harness } from "../testing/harness.js";
import { imageFsInfo } from "./image-fs-info.js";

test("ImageFsInfo sums the snapshots' usage under the snapshotter's root, read at most every few seconds", async (t) => {
  const h = await harness(t);
  await h.runContainer(await h.runPod());
  const { imageFilesystems } = await imageFsInfo(h.cri, {});
  const [fs] = imageFilesystems;
  assert.equal(fs?.fsId?.mountpoint, "/fake/snapshotter");
  const snapshots = h.daemon.snapshotTable.size;
  assert.equal(snapshots, 2, "the pause container's and the application container's");
  assert.equal(fs?.usedBytes?.value, BigInt(4096 * snapshots));
  assert.equal(fs?.inodesUsed?.value, BigInt(3 * snapshots));
  await imageFsInfo(h.cri, {});
  assert.equal(h.daemon.calls.filter((c) => c === "snapshots.list").length, 1, "the second answer is cached");
});
