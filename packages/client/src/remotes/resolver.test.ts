import assert from "node:assert/strict";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { errorMessage, isKind } from "../errdefs.js";
import { sha256Digest } from "../identity.js";
import { MediaType } from "../media-types.js";
import { parseReference } from "./reference.js";
import { Resolver } from "./resolver.js";

interface Logged {
  method: string;
  url: string;
  authorization: string | undefined;
  range: string | undefined;
}

interface FakeRegistryOptions {
  /** "bearer": tokens from /token; "basic": user:pass. */
  auth?: "bearer" | "basic";
  /** Credentials the token endpoint (or basic auth) accepts; anonymous tokens when unset. */
  credentials?: { username: string; password: string };
  /** Answer HEAD on manifests without Docker-Content-Digest. */
  headWithoutDigest?: boolean;
  /** Ignore Range headers. */
  noRanges?: boolean;
}

const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: sha256Digest("{}"), size: 2 },
    layers: [],
  }),
);
const manifestDigest = sha256Digest(manifest);
const blob = Buffer.from("0123456789abcdefghijklmnopqrstuvwxyz");
const blobDigest = sha256Digest(blob);

class FakeRegistry {
  readonly log: Logged[] = [];
  server: Server;
  host = "";

  constructor(readonly options: FakeRegistryOptions = {}) {
    this.server = createServer((req, res) => this.#handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  #authorized(req: IncomingMessage): boolean {
    const { auth, credentials } = this.options;
    if (auth === "bearer") return req.headers.authorization === "Bearer t0ken";
    if (auth === "basic" && credentials !== undefined) {
      return req.headers.authorization === `Basic ${btoa(`${credentials.username}:${credentials.password}`)}`;
    }
    return true;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", `http://${this.host}`);
    this.log.push({
      method: req.method ?? "",
      url: req.url ?? "",
      authorization: req.headers.authorization,
      range: req.headers.range,
    });
    if (url.pathname === "/token") {
      const { credentials } = this.options;
      if (credentials !== undefined) {
        const want = `Basic ${btoa(`${credentials.username}:${credentials.password}`)}`;
        if (req.headers.authorization !== want) {
          res.writeHead(401).end();
          return;
        }
      }
      res
        .writeHead(200, { "Content-Type": "application/json" })
        .end(JSON.stringify({ token: "t0ken", expires_in: 300 }));
      return;
    }
    if (!this.#authorized(req)) {
      const challenge =
        this.options.auth === "bearer"
          ? `Bearer realm="http://${this.host}/token",service="fake",scope="repository:berth/test:pull"`
          : 'Basic realm="fake"';
      res.writeHead(401, { "WWW-Authenticate": challenge }).end();
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (m === null || m[1] !== "berth/test") {
      res.writeHead(404).end();
      return;
    }
    if (m[2] === "manifests" && (m[3] === "multi" || m[3] === manifestDigest)) {
      const headers: Record<string, string | number> = {
        "Content-Type": MediaType.ociManifest,
        "Content-Length": manifest.length,
      };
      if (!this.options.headWithoutDigest || req.method === "GET")
        headers["Docker-Content-Digest"] = manifestDigest;
      res.writeHead(200, headers);
      res.end(req.method === "HEAD" ? undefined : manifest);
      return;
    }
    if (m[2] === "blobs" && m[3] === blobDigest) {
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
      if (range?.[1] !== undefined && !this.options.noRanges) {
        const start = Number(range[1]);
        res.writeHead(206, { "Content-Range": `bytes ${start}-${blob.length - 1}/${blob.length}` });
        res.end(blob.subarray(start));
        return;
      }
      res.writeHead(200, { "Content-Length": blob.length }).end(blob);
      return;
    }
    res.writeHead(404).end();
  }
}

async function readAll(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

const blobDesc = {
  mediaType: MediaType.ociLayerGzip,
  digest: blobDigest,
  size: blob.length,
  annotations: {},
};

describe("Resolver against a fake registry", () => {
  let plain: FakeRegistry;
  before(async () => {
    plain = await new FakeRegistry().start();
  });
  after(() => plain.stop());

  test("resolves a tag with HEAD alone", async () => {
    plain.log.length = 0;
    const resolver = new Resolver({ plainHttp: true });
    const r = await resolver.resolve(`${plain.host}/berth/test:multi`);
    assert.equal(r.name, `${plain.host}/berth/test:multi`);
    assert.deepEqual(r.descriptor, {
      mediaType: MediaType.ociManifest,
      digest: manifestDigest,
      size: manifest.length,
      annotations: {},
    });
    assert.deepEqual(
      plain.log.map((l) => `${l.method} ${l.url}`),
      ["HEAD /v2/berth/test/manifests/multi"],
    );
  });

  test("falls back to GET when HEAD does not give the digest", async () => {
    const reg = await new FakeRegistry({ headWithoutDigest: true }).start();
    try {
      const r = await new Resolver({ plainHttp: true }).resolve(`${reg.host}/berth/test:multi`);
      assert.equal(r.descriptor.digest, manifestDigest);
      assert.deepEqual(
        reg.log.map((l) => l.method),
        ["HEAD", "GET"],
      );
    } finally {
      await reg.stop();
    }
  });

  test("an unknown repository is NotFound and says what to check", async () => {
    await assert.rejects(
      new Resolver({ plainHttp: true }).resolve(`${plain.host}/berth/missing:1`),
      (err: unknown) =>
        isKind(err, "NotFound") && /not found on registry .*check the name and tag/.test(errorMessage(err)),
    );
  });

  test("fetches blobs whole, and from an offset with Range", async () => {
    const fetcher = await new Resolver({ plainHttp: true }).fetcher(
      parseReference(`${plain.host}/berth/test:multi`),
    );
    assert.deepEqual(await fetcher.fetchBytes(blobDesc), blob);
    const tail = await fetcher.open(blobDesc, { offset: 10 });
    assert.equal(tail.offset, 10);
    assert.deepEqual(await readAll(tail.body), blob.subarray(10));
    assert.equal(plain.log.at(-1)?.range, "bytes=10-");
  });

  test("a registry that ignores Range serves from 0, and says so", async () => {
    const reg = await new FakeRegistry({ noRanges: true }).start();
    try {
      const fetcher = await new Resolver({ plainHttp: true }).fetcher(
        parseReference(`${reg.host}/berth/test:multi`),
      );
      const stream = await fetcher.open(blobDesc, { offset: 10 });
      assert.equal(stream.offset, 0);
      assert.deepEqual(await readAll(stream.body), blob);
    } finally {
      await reg.stop();
    }
  });

  test("content that does not match its digest is refused", async () => {
    const fetcher = await new Resolver({ plainHttp: true }).fetcher(
      parseReference(`${plain.host}/berth/test:multi`),
    );
    await assert.rejects(fetcher.fetchBytes({ ...blobDesc, size: blob.length + 1 }), (err: unknown) =>
      isKind(err, "DataLoss"),
    );
  });

  test("https to a plain-HTTP registry says to use --plain-http", async () => {
    await assert.rejects(
      new Resolver().resolve(`${plain.host}/berth/test:multi`),
      (err: unknown) =>
        isKind(err, "Unavailable") &&
        errorMessage(err) ===
          `registry ${plain.host} answered with HTTP: use --plain-http or list it under plainHttp in the hosts config`,
    );
  });

  test("a closed port is named with a hint", async () => {
    const closed = await new FakeRegistry().start();
    const host = closed.host;
    await closed.stop();
    await assert.rejects(
      new Resolver({ plainHttp: true }).resolve(`${host}/berth/test:multi`),
      (err: unknown) =>
        isKind(err, "Unavailable") && /connection refused: check that it is running/.test(errorMessage(err)),
    );
  });
});

describe("mirrors", () => {
  test("are tried in order, carry ?ns=, and the registry itself is never contacted", async () => {
    const empty = await new FakeRegistry().start();
    const full = await new FakeRegistry().start();
    try {
      const resolver = new Resolver({
        hosts: { mirrors: { "registry.invalid": [`http://${empty.host}/nothing`, `http://${full.host}`] } },
      });
      // `nothing` is a path prefix: the first mirror answers 404 for everything.
      const r = await resolver.resolve("registry.invalid/berth/test:multi");
      assert.equal(r.name, "registry.invalid/berth/test:multi");
      assert.equal(r.descriptor.digest, manifestDigest);
      assert.deepEqual(
        empty.log.map((l) => l.url),
        ["/nothing/v2/berth/test/manifests/multi?ns=registry.invalid"],
      );
      assert.deepEqual(
        full.log.map((l) => l.url),
        ["/v2/berth/test/manifests/multi?ns=registry.invalid"],
      );
    } finally {
      await empty.stop();
      await full.stop();
    }
  });

  test("when every mirror fails, the error lists them", async () => {
    const empty = await new FakeRegistry().start();
    try {
      const resolver = new Resolver({
        hosts: { mirrors: { "registry.invalid": [`http://${empty.host}`, "http://127.0.0.1:1"] } },
      });
      await assert.rejects(resolver.resolve("registry.invalid/berth/missing:1"), (err: unknown) => {
        const msg = errorMessage(err);
        return msg.includes(`http://${empty.host}/v2`) && msg.includes("http://127.0.0.1:1/v2");
      });
    } finally {
      await empty.stop();
    }
  });
});

describe("authorization", () => {
  test("anonymous bearer token from the challenge's realm, reused for later requests", async () => {
    const reg = await new FakeRegistry({ auth: "bearer" }).start();
    try {
      const resolver = new Resolver({ plainHttp: true });
      await resolver.resolve(`${reg.host}/berth/test:multi`);
      const fetcher = await resolver.fetcher(parseReference(`${reg.host}/berth/test:multi`));
      assert.deepEqual(await fetcher.fetchBytes(blobDesc), blob);
      const lines = reg.log.map((l) => `${l.method} ${l.url.split("?")[0]} ${l.authorization ?? "-"}`);
      assert.deepEqual(lines, [
        "HEAD /v2/berth/test/manifests/multi -",
        "GET /token -",
        "HEAD /v2/berth/test/manifests/multi Bearer t0ken",
        "GET /v2/berth/test/blobs/" + blobDigest + " Bearer t0ken",
      ]);
      const token = new URL(reg.log[1]?.url ?? "", "http://x");
      assert.equal(token.searchParams.get("service"), "fake");
      assert.deepEqual(token.searchParams.getAll("scope"), ["repository:berth/test:pull"]);
    } finally {
      await reg.stop();
    }
  });

  test("credentials go to the token server as basic auth", async () => {
    const credentials = { username: "me", password: "pw" };
    const reg = await new FakeRegistry({ auth: "bearer", credentials }).start();
    try {
      const ok = new Resolver({ plainHttp: true, hosts: { auth: { [reg.host]: credentials } } });
      assert.equal((await ok.resolve(`${reg.host}/berth/test:multi`)).descriptor.digest, manifestDigest);
      const wrong = new Resolver({
        plainHttp: true,
        hosts: { auth: { [reg.host]: { username: "me", password: "no" } } },
      });
      await assert.rejects(
        wrong.resolve(`${reg.host}/berth/test:multi`),
        (err: unknown) =>
          isKind(err, "FailedPrecondition") && /rejected the credentials of "me"/.test(errorMessage(err)),
      );
      await assert.rejects(
        new Resolver({ plainHttp: true }).resolve(`${reg.host}/berth/test:multi`),
        (err: unknown) =>
          /does not allow anonymous pulls.*add credentials under auth/.test(errorMessage(err)),
      );
    } finally {
      await reg.stop();
    }
  });

  test("basic auth with configured credentials; a hint without them", async () => {
    const credentials = { username: "u", password: "p" };
    const reg = await new FakeRegistry({ auth: "basic", credentials }).start();
    try {
      const ok = new Resolver({ plainHttp: true, hosts: { auth: { [reg.host]: credentials } } });
      assert.equal((await ok.resolve(`${reg.host}/berth/test:multi`)).descriptor.digest, manifestDigest);
      await assert.rejects(
        new Resolver({ plainHttp: true }).resolve(`${reg.host}/berth/test:multi`),
        (err: unknown) =>
          isKind(err, "FailedPrecondition") &&
          new RegExp(`add them under auth."${reg.host}"`).test(errorMessage(err)),
      );
    } finally {
      await reg.stop();
    }
  });
});
