import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { isKind } from "../errdefs.js";
import {
  checkHostsDir,
  hostDirCandidates,
  hostsDirEndpoints,
  hostsDirRegistryEndpoints,
  isLocalhost,
  loadHostsDir,
  parseHostsToml,
} from "./hosts-dir.js";
import { validateHostsConfig } from "./hosts.js";
import { Resolver } from "./resolver.js";

const DIR = "/etc/containerd/certs.d/docker.io";

function summary(registryHost: string, text: string | undefined, plainHttp = false) {
  const entries = text === undefined ? undefined : parseHostsToml(text, DIR);
  return hostsDirEndpoints(registryHost, entries, { plainHttp }).map((e) => ({
    url: e.baseUrl,
    mirror: e.mirror,
    caps: e.capabilities?.join(","),
  }));
}

describe("parseHostsToml", () => {
  test("hosts come in file order, then the server; relative paths are under the host's directory", () => {
    const entries = parseHostsToml(
      [
        'server = "https://registry-1.docker.io"',
        'ca = "/etc/certs/upstream.pem"',
        "",
        '[host."https://z-mirror.internal"]',
        '  capabilities = ["pull"]',
        '  ca = ["mirror.crt", "/abs/other.pem"]',
        '  client = [["client.cert", "client.key"], ["both.pem", ""]]',
        "",
        '[host."http://a-mirror.internal:5000/prefix"]',
        '  capabilities = ["pull", "resolve"]',
        "  skip_verify = true",
        '  [host."http://a-mirror.internal:5000/prefix".header]',
        '    x-one = "1"',
        '    x-two = ["a", "b"]',
        "",
      ].join("\n"),
      DIR,
    );
    assert.deepEqual(entries, [
      {
        protocol: "https:",
        host: "z-mirror.internal",
        path: "/v2",
        capabilities: ["pull"],
        ca: [`${DIR}/mirror.crt`, "/abs/other.pem"],
        client: [
          [`${DIR}/client.cert`, `${DIR}/client.key`],
          [`${DIR}/both.pem`, ""],
        ],
      },
      {
        protocol: "http:",
        host: "a-mirror.internal:5000",
        path: "/prefix/v2",
        capabilities: ["pull", "resolve"],
        skipVerify: true,
        header: { "x-one": ["1"], "x-two": ["a", "b"] },
      },
      {
        protocol: "https:",
        host: "registry-1.docker.io",
        path: "/v2",
        capabilities: ["pull", "resolve", "push"],
        ca: ["/etc/certs/upstream.pem"],
      },
    ]);
  });

  test("a server without a scheme is https; override_path keeps the path as written", () => {
    const [a] = parseHostsToml('server = "registry.example:5000"', DIR);
    assert.equal(a?.protocol, "https:");
    assert.equal(a?.host, "registry.example:5000");
    const [b] = parseHostsToml(
      '[host."https://odd.example/v2/upstream"]\noverride_path = true\ncapabilities = ["pull"]',
      DIR,
    );
    assert.equal(b?.path, "/v2/upstream");
    const [c] = parseHostsToml('[host."https://odd.example/api/v2/"]', DIR);
    assert.equal(c?.path, "/api/v2");
  });

  test("client as one path or a list of paths holds certificate and key together", () => {
    const [a] = parseHostsToml('client = "/c.pem"', DIR);
    assert.deepEqual(a?.client, [["/c.pem", ""]]);
    const [b] = parseHostsToml('client = ["c1.pem", "c2.pem"]', DIR);
    assert.deepEqual(b?.client, [
      [`${DIR}/c1.pem`, ""],
      [`${DIR}/c2.pem`, ""],
    ]);
  });

  const bad: Array<[string, string, RegExp]> = [
    [
      "syntax",
      'server = "https://x"\n[host."https://m"\ncapabilities = ["pull"]',
      /hosts\.toml:2:\d+: not valid TOML/,
    ],
    [
      "unknown capability",
      '\n[host."https://m"]\ncapabilities = ["pull", "fetch"]',
      /hosts\.toml:3: .*unknown capability "fetch"/,
    ],
    [
      "typo in a key",
      '[host."https://m"]\n  skip_verfy = true',
      /hosts\.toml:2: unknown key "host\."https:\/\/m"\.skip_verfy"/,
    ],
    [
      "a host's bad value, its URL also the server's",
      'server = "https://m"\nskip_verify = false\n[host."https://m"]\nskip_verify = 1',
      /hosts\.toml:4: host\."https:\/\/m"\.skip_verify must be true or false/,
    ],
    ["skip_verify not a boolean", 'skip_verify = "yes"', /hosts\.toml:1: skip_verify must be true or false/],
    ["ca not a path", "ca = 5", /hosts\.toml:1: ca must be a path or a list of paths/],
    [
      "client pair of three",
      'client = [["a", "b", "c"]]',
      /client must be a path, a list of paths, or a list of \[certificate, key\] pairs/,
    ],
    ["server not a URL", 'server = "https://exa mple"', /hosts\.toml:1: "https:\/\/exa mple" is not a URL/],
    ["server of another scheme", 'server = "ftp://x"', /must be an http:\/\/ or https:\/\/ URL/],
    [
      "header value a number",
      "[header]\nx-a = 1",
      /hosts\.toml:2: header\.x-a must be a string or a list of strings/,
    ],
  ];
  for (const [name, text, message] of bad) {
    test(`rejects ${name}, naming the file and line`, () => {
      assert.throws(
        () => parseHostsToml(text, DIR),
        (err: unknown) =>
          isKind(err, "InvalidArgument") &&
          message.test((err as Error).message) &&
          (err as Error).message.startsWith(`${DIR}/hosts.toml:`),
      );
    });
  }

  test("containerd 2's dial_timeout is accepted", () => {
    assert.equal(parseHostsToml('[host."https://m"]\ndial_timeout = "1s"', DIR).length, 2);
  });
});

describe("hostsDirEndpoints", () => {
  test("without config: the registry itself; docker.io is registry-1.docker.io", () => {
    assert.deepEqual(summary("docker.io", undefined), [
      { url: "https://registry-1.docker.io/v2", mirror: false, caps: "pull,resolve,push" },
    ]);
    assert.deepEqual(summary("quay.io", undefined), [
      { url: "https://quay.io/v2", mirror: false, caps: "pull,resolve,push" },
    ]);
  });

  test("as containerd 1.6: loopback and localhost default to http, as does --plain-http", () => {
    assert.equal(summary("127.0.0.1:5000", undefined)[0]?.url, "http://127.0.0.1:5000/v2");
    assert.equal(summary("localhost:5000", "")[0]?.url, "http://localhost:5000/v2");
    assert.equal(summary("quay.io", undefined, true)[0]?.url, "http://quay.io/v2");
    assert.equal(summary("docker.io", undefined, true)[0]?.url, "https://registry-1.docker.io/v2");
    assert.ok(isLocalhost("[::1]:5000") && isLocalhost("127.1.2.3") && !isLocalhost("10.0.0.1:5000"));
  });

  test("mirrors first (carrying ?ns=), then the server; without server, the registry is still tried last", () => {
    const text = '[host."https://mirror.internal"]\ncapabilities = ["pull"]';
    assert.deepEqual(summary("registry.example:5000", text), [
      { url: "https://mirror.internal/v2", mirror: true, caps: "pull" },
      { url: "https://registry.example:5000/v2", mirror: false, caps: "pull,resolve,push" },
    ]);
    // A server that is another host is a mirror too (requests say which registry they are for).
    assert.deepEqual(summary("registry.example:5000", 'server = "https://only-mirror.internal"'), [
      { url: "https://only-mirror.internal/v2", mirror: true, caps: "pull,resolve,push" },
    ]);
    assert.deepEqual(summary("docker.io", 'server = "https://registry-1.docker.io"'), [
      { url: "https://registry-1.docker.io/v2", mirror: false, caps: "pull,resolve,push" },
    ]);
  });

  test("top-level TLS settings stay with the default server", () => {
    const [e] = hostsDirEndpoints("quay.io", parseHostsToml('ca = "q.pem"\nskip_verify = false', DIR));
    assert.deepEqual(e?.entry.ca, [`${DIR}/q.pem`]);
    assert.equal(e?.entry.skipVerify, false);
  });

  test("credentials of the endpoint's host, else of the registry's", () => {
    const auth = {
      "mirror.internal": { username: "m", password: "p" },
      "r.example": { username: "r", password: "q" },
    };
    const eps = hostsDirEndpoints("r.example", parseHostsToml('[host."https://mirror.internal"]', DIR), {
      auth,
    });
    assert.deepEqual(
      eps.map((e) => e.credentials?.username),
      ["m", "r"],
    );
  });
});

describe("hosts directory on disk", () => {
  let root = "";
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "hosts-dir-test-"));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test("<host>_<port>_ comes before <host>:<port>, which comes before _default", async () => {
    assert.deepEqual(hostDirCandidates("/d", "r.example:5000"), [
      "/d/r.example_5000_",
      "/d/r.example:5000",
      "/d/_default",
    ]);
    assert.deepEqual(hostDirCandidates("/d", "quay.io"), ["/d/quay.io", "/d/_default"]);
    await mkdir(join(root, "_default"));
    await writeFile(join(root, "_default", "hosts.toml"), 'server = "https://default.internal"\n');
    await mkdir(join(root, "r.example:5000"));
    await writeFile(join(root, "r.example:5000", "hosts.toml"), 'server = "https://colon.internal"\n');
    assert.equal((await loadHostsDir(root, "r.example:5000"))?.entries[0]?.host, "colon.internal");
    assert.equal((await loadHostsDir(root, "other.example"))?.entries[0]?.host, "default.internal");
    await mkdir(join(root, "r.example_5000_"));
    await writeFile(join(root, "r.example_5000_", "hosts.toml"), 'server = "https://underscore.internal"\n');
    assert.equal((await loadHostsDir(root, "r.example:5000"))?.entries[0]?.host, "underscore.internal");
  });

  test("a directory without hosts.toml is read as Docker's certs.d", async () => {
    const dir = join(root, "certs.example");
    await mkdir(dir);
    await writeFile(join(dir, "ca.crt"), "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n");
    await writeFile(join(dir, "client.cert"), "cert");
    await writeFile(join(dir, "client.key"), "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n");
    const eps = await hostsDirRegistryEndpoints(root, "certs.example");
    assert.equal(eps.length, 1);
    assert.equal(eps[0]?.baseUrl, "https://certs.example/v2");
    assert.equal(eps[0]?.tls?.ca?.length, 1);
    assert.equal(eps[0]?.tls?.clientCertificates?.[0]?.cert.toString(), "cert");
  });

  test("a CA file that is missing, or holds no certificate, is named", async () => {
    const dir = join(root, "badca.example");
    await mkdir(dir);
    await writeFile(join(dir, "hosts.toml"), 'ca = "missing.pem"\n');
    await assert.rejects(
      hostsDirRegistryEndpoints(root, "badca.example"),
      /hosts\.toml: cannot read the CA certificate \(ca\) .*missing\.pem/,
    );
    await assert.rejects(checkHostsDir(root), /missing\.pem/);
    await writeFile(join(dir, "missing.pem"), "not a certificate");
    await assert.rejects(hostsDirRegistryEndpoints(root, "badca.example"), /holds no PEM certificate/);
    await rm(dir, { recursive: true });
    await checkHostsDir(root);
    await assert.rejects(checkHostsDir(join(root, "nope")), /hosts directory .*nope does not exist/);
  });

  test("a resolver refuses mirrors or plainHttp beside a hosts directory", () => {
    assert.throws(
      () => new Resolver({ hostsDir: root, hosts: { plainHttp: ["x:1"] } }),
      /cannot be given with a hosts directory/,
    );
    assert.throws(
      () =>
        validateHostsConfig(
          { configPath: "/etc/containerd/certs.d", mirrors: { "docker.io": ["https://m"] } },
          "registry",
        ),
      /registry: configPath and mirrors cannot both be given/,
    );
    assert.deepEqual(validateHostsConfig({ configPath: "/etc/containerd/certs.d", auth: {} }, "registry"), {
      configPath: "/etc/containerd/certs.d",
      auth: {},
    });
    assert.throws(() => validateHostsConfig({ configPath: "certs.d" }, "registry"), /absolute path/);
  });

  test("a tag is resolved only by hosts with resolve; a digest is asked of pull hosts too; headers are sent", async () => {
    const dir = join(root, "caps.example");
    await mkdir(dir);
    await writeFile(
      join(dir, "hosts.toml"),
      [
        'server = "http://caps.example"',
        '[host."http://pull-only.internal"]',
        '  capabilities = ["pull"]',
        '  [host."http://pull-only.internal".header]',
        '    x-mirror = ["a", "b"]',
      ].join("\n"),
    );
    const seen: string[] = [];
    const fetchStub: typeof fetch = async (input, init) => {
      const h = new Headers(init?.headers);
      seen.push(`${String(input)}${h.has("x-mirror") ? ` x-mirror=${h.get("x-mirror")}` : ""}`);
      return new Response(null, { status: 404 });
    };
    const resolver = new Resolver({ hostsDir: root, fetch: fetchStub });
    const pushTo = await resolver.endpoints({ domain: "caps.example", path: "app", tag: "v1" }, ["push"]);
    assert.deepEqual(
      pushTo.map((e) => e.baseUrl),
      ["http://caps.example/v2"],
    );
    await assert.rejects(resolver.resolve("caps.example/app:v1"), /not found/);
    assert.deepEqual(seen, ["http://caps.example/v2/app/manifests/v1"]);
    seen.length = 0;
    const digest = `sha256:${"a".repeat(64)}`;
    await assert.rejects(resolver.resolve(`caps.example/app@${digest}`), /not found/);
    assert.deepEqual(seen, [
      `http://pull-only.internal/v2/app/manifests/${digest}?ns=caps.example x-mirror=a, b`,
      `http://caps.example/v2/app/manifests/${digest}`,
    ]);
  });
});
