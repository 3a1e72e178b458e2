import assert from "node:assert/strict";
import { test } from "node:test";
import type { AuthConfig } from "@berth/api/cri/runtime/v1/api";
import { hostsWithAuth, parseAuth } from "./pull-image.js";

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
