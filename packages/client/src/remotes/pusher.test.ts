import assert from "node:assert/strict";
import { test } from "node:test";
import { errorKind } from "../errdefs.js";
import type { FetchFunction } from "./auth.js";
import { parseReference } from "./reference.js";
import { Resolver } from "./resolver.js";

const blob = {
  mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
  digest: `sha256:${"a".repeat(64)}`,
  size: 5,
  annotations: {},
};
const basic = `Basic ${Buffer.from("me:secret").toString("base64")}`;

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  body?: string;
}

/** A registry wanting Basic credentials on every request, answering with `route`. */
function fakeRegistry(route: (method: string, url: URL, body: string) => Response): {
  fetch: FetchFunction;
  seen: Seen[];
} {
  const seen: Seen[] = [];
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const headers = (init?.headers ?? {}) as Record<string, string>;
    let body = "";
    if (init?.body !== undefined && init.body !== null) {
      const chunks: Buffer[] = [];
      const b = init.body as unknown;
      if (b instanceof Uint8Array) chunks.push(Buffer.from(b));
      else for await (const c of b as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
      body = Buffer.concat(chunks).toString();
    }
    const method = init?.method ?? "GET";
    seen.push({ method, url: url.toString(), authorization: headers.Authorization, body });
    // Let concurrent requests overlap before the challenge.
    await new Promise((r) => setTimeout(r, 5));
    if (headers.Authorization !== basic) {
      return new Response(null, { status: 401, headers: { "WWW-Authenticate": 'Basic realm="test"' } });
    }
    return route(method, url, body);
  }) as FetchFunction;
  return { fetch: fetchImpl, seen };
}

const pusherFor = (fetchImpl: FetchFunction) => {
  const ref = parseReference("127.0.0.1:5000/team/app:1");
  const resolver = new Resolver({
    hosts: { auth: { "127.0.0.1:5000": { username: "me", password: "secret" } } },
    plainHttp: true,
    fetch: fetchImpl,
  });
  return resolver.pusher(ref);
};

test("concurrent requests that meet the same challenge all retry with credentials", async () => {
  const { fetch, seen } = fakeRegistry(() => new Response(null, { status: 200 }));
  const pusher = await pusherFor(fetch);
  const results = await Promise.all([1, 2, 3].map(() => pusher.exists(blob)));
  assert.deepEqual(results, [true, true, true]);
  assert.equal(seen.filter((s) => s.authorization === basic).length, 3);
});

test("pushBlob starts an upload and PUTs the bytes to its location with the digest", async () => {
  const { fetch, seen } = fakeRegistry((method, url) => {
    if (method === "POST" && url.pathname === "/v2/team/app/blobs/uploads/")
      return new Response(null, {
        status: 202,
        headers: { Location: "/v2/team/app/blobs/uploads/u1?_state=s" },
      });
    if (method === "PUT" && url.pathname === "/v2/team/app/blobs/uploads/u1")
      return new Response(null, { status: 201 });
    return new Response(null, { status: 404 });
  });
  await (await pusherFor(fetch)).pushBlob(blob, async function* () {
    yield Buffer.from("hel");
    yield Buffer.from("lo");
  });
  const put = seen.find((s) => s.method === "PUT" && s.authorization === basic);
  assert.ok(put);
  const url = new URL(put.url);
  assert.equal(url.searchParams.get("digest"), blob.digest);
  assert.equal(url.searchParams.get("_state"), "s");
  assert.equal(put.body, "hello");
});

test("a refused manifest says what the registry said and what to check", async () => {
  const { fetch } = fakeRegistry(
    () =>
      new Response(
        JSON.stringify({ errors: [{ code: "MANIFEST_BLOB_UNKNOWN", message: "blob unknown to registry" }] }),
        {
          status: 400,
        },
      ),
  );
  await assert.rejects(
    (await pusherFor(fetch)).pushManifest(
      { ...blob, mediaType: "application/vnd.oci.image.manifest.v1+json" },
      Buffer.from("{}"),
      "1",
    ),
    (err) => {
      assert.equal(errorKind(err), "FailedPrecondition");
      assert.match(
        (err as Error).message,
        /MANIFEST_BLOB_UNKNOWN blob unknown to registry.*check that the content is complete/,
      );
      return true;
    },
  );
});
