import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { isKind } from "../errdefs.js";
import { DOCKER_HUB_HOST, loadHostsConfig, parseHostsConfig, registryEndpoints } from "./hosts.js";

describe("registryEndpoints", () => {
  test("docker.io is served by registry-1.docker.io over https", () => {
    assert.deepEqual(registryEndpoints("docker.io"), [
      { host: DOCKER_HUB_HOST, baseUrl: `https://${DOCKER_HUB_HOST}/v2`, mirror: false },
    ]);
  });

  test("other registries are reached over https unless plain HTTP is asked for", () => {
    assert.equal(registryEndpoints("127.0.0.1:5000")[0]?.baseUrl, "https://127.0.0.1:5000/v2");
    assert.equal(
      registryEndpoints("127.0.0.1:5000", {}, { plainHttp: true })[0]?.baseUrl,
      "http://127.0.0.1:5000/v2",
    );
    assert.equal(
      registryEndpoints("127.0.0.1:5000", { plainHttp: ["127.0.0.1:5000"] })[0]?.baseUrl,
      "http://127.0.0.1:5000/v2",
    );
    assert.equal(
      registryEndpoints("127.0.0.1:5001", { plainHttp: ["127.0.0.1:5000"] })[0]?.baseUrl,
      "https://127.0.0.1:5001/v2",
    );
  });

  test("mirrors replace the registry, in order, with no fall-back to it", () => {
    const eps = registryEndpoints("docker.io", {
      mirrors: { "docker.io": ["http://127.0.0.1:5000", "https://mirror.example/prefix/", "10.0.0.1:5000"] },
      plainHttp: ["10.0.0.1:5000"],
    });
    assert.deepEqual(
      eps.map((e) => [e.host, e.baseUrl, e.mirror]),
      [
        ["127.0.0.1:5000", "http://127.0.0.1:5000/v2", true],
        ["mirror.example", "https://mirror.example/prefix/v2", true],
        ["10.0.0.1:5000", "http://10.0.0.1:5000/v2", true],
      ],
    );
  });

  test("a mirror entry naming the registry itself is not a mirror", () => {
    const eps = registryEndpoints("docker.io", {
      mirrors: { "docker.io": ["https://registry-1.docker.io"] },
    });
    assert.equal(eps[0]?.mirror, false);
  });

  test("--plain-http applies to mirrors without a scheme, not to explicit https", () => {
    const config = { mirrors: { "gcr.io": ["127.0.0.1:5000", "https://secure.example"] } };
    const eps = registryEndpoints("gcr.io", config, { plainHttp: true });
    assert.deepEqual(
      eps.map((e) => e.baseUrl),
      ["http://127.0.0.1:5000/v2", "https://secure.example/v2"],
    );
  });

  test("credentials are found by endpoint host, then by registry host", () => {
    const creds = { username: "u", password: "p" };
    const other = { username: "o", password: "q" };
    const config = {
      mirrors: { "gcr.io": ["http://127.0.0.1:5000", "http://127.0.0.1:6000"] },
      auth: { "127.0.0.1:5000": creds, "gcr.io": other },
    };
    const eps = registryEndpoints("gcr.io", config);
    assert.deepEqual(eps[0]?.credentials, creds);
    assert.deepEqual(eps[1]?.credentials, other);
    assert.deepEqual(registryEndpoints("docker.io", { auth: { "docker.io": creds } })[0]?.credentials, creds);
  });

  test("an empty mirror list is an error that says how to fix it", () => {
    assert.throws(
      () => registryEndpoints("gcr.io", { mirrors: { "gcr.io": [] } }),
      (err: unknown) => isKind(err, "InvalidArgument") && /mirrors\.gcr\.io/.test(String(err)),
    );
  });
});

describe("parseHostsConfig", () => {
  test("reads mirrors, plainHttp and auth from YAML", () => {
    const config = parseHostsConfig(
      [
        "mirrors:",
        "  docker.io:",
        "    - http://127.0.0.1:5000",
        "  gcr.io: [https://mirror.example]",
        "plainHttp: [127.0.0.1:5000]",
        "auth:",
        "  127.0.0.1:5000: { username: me, password: secret }",
      ].join("\n"),
    );
    assert.deepEqual(config, {
      mirrors: { "docker.io": ["http://127.0.0.1:5000"], "gcr.io": ["https://mirror.example"] },
      plainHttp: ["127.0.0.1:5000"],
      auth: { "127.0.0.1:5000": { username: "me", password: "secret" } },
    });
  });

  test("an empty document is an empty config", () => {
    assert.deepEqual(parseHostsConfig(""), {});
  });

  const bad: Array<[string, RegExp]> = [
    ["mirrors: [a]", /mirrors must map/],
    ["mirrors:\n  docker.io: http://x", /mirrors\.docker\.io must be a list/],
    ["mirrors:\n  docker.io: [ftp://x]", /must be an http:\/\/ or https:\/\/ URL/],
    ["plainHttp: 127.0.0.1:5000", /plainHttp must be a list/],
    ["auth:\n  x: { username: u }", /auth\.x must have a string username and password/],
    ["registry: {}", /unknown key "registry"/],
    ["mirrors: [", /not valid YAML/],
    ["- a", /must be a mapping/],
  ];
  for (const [text, message] of bad) {
    test(`rejects ${JSON.stringify(text)}`, () => {
      assert.throws(
        () => parseHostsConfig(text, "hosts.yaml"),
        (err: unknown) =>
          isKind(err, "InvalidArgument") && message.test(String(err)) && /hosts\.yaml/.test(String(err)),
      );
    });
  }

  test("loadHostsConfig names the file in its errors", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hosts-"));
    try {
      const file = join(dir, "hosts.yaml");
      await writeFile(file, "plainHttp: [127.0.0.1:5000]\n");
      assert.deepEqual(await loadHostsConfig(file), { plainHttp: ["127.0.0.1:5000"] });
      await assert.rejects(
        loadHostsConfig(join(dir, "missing.yaml")),
        /cannot read hosts config .*missing\.yaml/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
