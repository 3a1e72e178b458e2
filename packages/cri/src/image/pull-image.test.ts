import assert from "node:assert/strict";
import { test } from "node:test";
import type { Image } from "@berth/api/containerd/services/images/v1/images";
import type { AuthConfig } from "@berth/api/cri/runtime/v1/api";
import { fakeImage, imageRecord } from "../testing/fakes.js";
import { harness, rejectsWith } from "../testing/harness.js";
import { IMAGE_LABEL_KEY } from "./image-store.js";
import { hostsWithAuth, parseAuth, pullImage } from "./pull-image.js";

const signal = new AbortController().signal;
const pullOf = (image: string) => ({
  image: { image, annotations: {} },
  auth: undefined,
  sandboxConfig: undefined,
});

const auth = (a: Partial<AuthConfig>): AuthConfig => ({
  username: "",
  password: "",
  auth: "",
  serverAddress: "",
  identityToken: "",
  registryToken: "",
  ...a,
});

test("credentials from username/password, from base64 auth, or none", () => {
  assert.deepEqual(parseAuth(auth({ username: "u", password: "p" })), { username: "u", password: "p" });
  assert.deepEqual(parseAuth(auth({ auth: Buffer.from("me:sec:ret").toString("base64") })), {
    username: "me",
    password: "sec:ret",
  });
  assert.equal(parseAuth(auth({})), undefined);
  assert.equal(parseAuth(undefined), undefined);
  assert.throws(() => parseAuth(auth({ auth: Buffer.from("nocolon").toString("base64") })), /user:password/);
});

test("credentials go to the registry and its mirrors, or only to the server named", () => {
  const config = { mirrors: { "docker.io": ["http://127.0.0.1:5000"] } };
  const all = hostsWithAuth(config, "docker.io", auth({ username: "u", password: "p" }));
  assert.deepEqual(Object.keys(all.auth ?? {}).sort(), ["127.0.0.1:5000", "docker.io"]);
  const one = hostsWithAuth(
    config,
    "docker.io",
    auth({ username: "u", password: "p", serverAddress: "http://127.0.0.1:5000" }),
  );
  assert.deepEqual(Object.keys(one.auth ?? {}), ["127.0.0.1:5000"]);
  assert.equal(hostsWithAuth(config, "docker.io", undefined), config);
});

test("PullImage records the image under its ID, its tag and its repo digest, marked as CRI's", async (t) => {
  const h = await harness(t);
  const img = fakeImage("quay.io/app/web:v2");
  h.daemon.onPull = (name, options) => {
    assert.equal(options.snapshotter, h.cri.config.containerd.snapshotter);
    h.images.add(img);
    return {
      name,
      labels: options.labels ?? {},
      target: img.target,
      createdAt: undefined,
      updatedAt: undefined,
    };
  };
  const { imageRef } = await pullImage(h.cri, pullOf("quay.io/app/web:v2"), signal);
  assert.equal(imageRef, img.id);
  const names = [...h.daemon.imageRecords.keys()].sort();
  assert.deepEqual(names, [`quay.io/app/web@${img.target.digest}`, "quay.io/app/web:v2", img.id].sort());
  for (const r of h.daemon.imageRecords.values())
    assert.equal((r as Image).labels[IMAGE_LABEL_KEY], "managed");
});

test("PullImage refuses an empty or unparsable reference; a missing image is NotFound", async (t) => {
  const h = await harness(t);
  await rejectsWith(pullImage(h.cri, pullOf(""), signal), "InvalidArgument", /image must not be empty/);
  await rejectsWith(
    pullImage(h.cri, pullOf("UPPER/Case::x"), signal),
    "InvalidArgument",
    /failed to parse image reference "UPPER\/Case::x"/,
  );
  await rejectsWith(pullImage(h.cri, pullOf("absent:1"), signal), "NotFound", /not found/);
  assert.equal(h.daemon.imageRecords.size, 0);
});
