import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { test } from "node:test";
import {
  JsonObjectSplitter,
  SPDY_REMOTE_COMMAND_PROTOCOLS,
  negotiateStreamProtocol,
} from "./remote-command.js";

test("resize messages: whole objects however the bytes are cut", () => {
  const s = new JsonObjectSplitter();
  assert.deepEqual(s.push('{"Width":80,"Hei'), []);
  assert.deepEqual(s.push('ght":24}{"Width":100,"Height":30}\n{"Wi'), [
    { Width: 80, Height: 24 },
    { Width: 100, Height: 30 },
  ]);
  assert.deepEqual(s.push('dth":1,"note":"a } in a string","Height":2}'), [
    { Width: 1, note: "a } in a string", Height: 2 },
  ]);
  assert.deepEqual(s.push("garbage{not json}"), []);
  assert.deepEqual(s.push('{"Width":5,"Height":6}'), [{ Width: 5, Height: 6 }]);
});

function request(header: string | string[] | undefined): IncomingMessage {
  return { headers: header === undefined ? {} : { "x-stream-protocol-version": header } } as IncomingMessage;
}

test("X-Stream-Protocol-Version: the client's first that the server speaks", () => {
  const supported = SPDY_REMOTE_COMMAND_PROTOCOLS;
  assert.equal(negotiateStreamProtocol(request("v4.channel.k8s.io"), supported), "v4.channel.k8s.io");
  assert.equal(
    negotiateStreamProtocol(
      request(["v5.channel.k8s.io", "v3.channel.k8s.io, v4.channel.k8s.io"]),
      supported,
    ),
    "v3.channel.k8s.io",
  );
  assert.equal(negotiateStreamProtocol(request("v9.channel.k8s.io"), supported), undefined);
  assert.equal(negotiateStreamProtocol(request(undefined), supported), "");
});
