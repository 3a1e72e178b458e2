import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { basicAuthorization, parseWwwAuthenticate } from "./auth.js";

describe("parseWwwAuthenticate", () => {
  test("a Docker Hub bearer challenge", () => {
    const header =
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"';
    assert.deepEqual(parseWwwAuthenticate(header), [
      {
        scheme: "bearer",
        params: {
          realm: "https://auth.docker.io/token",
          service: "registry.docker.io",
          scope: "repository:library/busybox:pull",
        },
      },
    ]);
  });

  test("scheme and parameter names are case-insensitive; spaces around = and , are allowed", () => {
    assert.deepEqual(parseWwwAuthenticate('BEARER Realm = "https://a/token" ,  Service="s"'), [
      { scheme: "bearer", params: { realm: "https://a/token", service: "s" } },
    ]);
  });

  test("unquoted values, including URLs", () => {
    assert.deepEqual(
      parseWwwAuthenticate("Bearer realm=https://a.example/token,service=reg,error=invalid_token"),
      [
        {
          scheme: "bearer",
          params: { realm: "https://a.example/token", service: "reg", error: "invalid_token" },
        },
      ],
    );
  });

  test("quoted strings keep commas and unescape backslashes", () => {
    assert.deepEqual(parseWwwAuthenticate('Bearer scope="repository:a:pull,push",realm="x\\"y"'), [
      { scheme: "bearer", params: { scope: "repository:a:pull,push", realm: 'x"y' } },
    ]);
  });

  test("several challenges in one header", () => {
    assert.deepEqual(
      parseWwwAuthenticate('Basic realm="Registry Realm", Bearer realm="https://t/token",service="r"'),
      [
        { scheme: "basic", params: { realm: "Registry Realm" } },
        { scheme: "bearer", params: { realm: "https://t/token", service: "r" } },
      ],
    );
  });

  test("a bare scheme, and nothing", () => {
    assert.deepEqual(parseWwwAuthenticate("Basic"), [{ scheme: "basic", params: {} }]);
    assert.deepEqual(parseWwwAuthenticate(""), []);
  });
});

test("basicAuthorization encodes user:password", () => {
  assert.equal(basicAuthorization({ username: "me", password: "s3cr:t" }), `Basic ${btoa("me:s3cr:t")}`);
});
