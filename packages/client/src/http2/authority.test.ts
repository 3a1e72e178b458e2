import assert from "node:assert/strict";
import { test } from "node:test";
import { RequestRewriter, acceptableAuthority } from "./authority.js";
import { type HeaderField, HpackDecoder, encodeLiterals } from "./hpack.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return Buffer.concat([h, payload]);
}

interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

function parseFrames(data: Buffer): Frame[] {
  assert.ok(data.subarray(0, 24).equals(PREFACE), "the preface passes first");
  const frames: Frame[] = [];
  for (let at = 24; at < data.length; ) {
    const length = data.readUIntBE(at, 3);
    frames.push({
      type: data[at + 3] as number,
      flags: data[at + 4] as number,
      streamId: data.readUInt32BE(at + 5),
      payload: data.subarray(at + 9, at + 9 + length),
    });
    at += 9 + length;
  }
  return frames;
}

/** What a server makes of the rewritten stream: frames, with header blocks decoded. */
function serverView(data: Buffer) {
  const decoder = new HpackDecoder();
  const out: Array<{
    type: number;
    flags: number;
    streamId: number;
    fields?: HeaderField[];
    payload?: Buffer;
  }> = [];
  let block: Buffer[] = [];
  for (const f of parseFrames(data)) {
    if (f.type === 1 || f.type === 9) {
      assert.equal(f.flags & 0x8, 0, "no padding goes out");
      block.push(f.type === 1 && f.flags & 0x20 ? f.payload.subarray(5) : f.payload);
      if (f.flags & 0x4) {
        out.push({
          type: 1,
          flags: f.flags,
          streamId: f.streamId,
          fields: decoder.decode(Buffer.concat(block)),
        });
        block = [];
      } else {
        out.push({ type: f.type, flags: f.flags, streamId: f.streamId });
      }
    } else {
      out.push({ type: f.type, flags: f.flags, streamId: f.streamId, payload: f.payload });
    }
  }
  assert.equal(decoder.table.length, 0, "the server's dynamic table stays empty");
  return out;
}

function rewrite(
  input: Buffer,
  split: number | "whole",
): { output: Buffer; chunks: Buffer[]; errors: string[] } {
  const chunks: Buffer[] = [];
  const errors: string[] = [];
  const r = new RequestRewriter(
    (c) => chunks.push(c),
    (m) => errors.push(m),
  );
  if (split === "whole") r.write(input);
  else for (let i = 0; i < input.length; i += split) r.write(input.subarray(i, i + split));
  return { output: Buffer.concat(chunks), chunks, errors };
}

const settings = frame(4, 0, 0, Buffer.alloc(0));
const request = (authority: string) =>
  encodeLiterals([
    { name: ":method", value: "POST" },
    { name: ":scheme", value: "http" },
    { name: ":path", value: "/containerd.services.version.v1.Version/Version" },
    { name: ":authority", value: authority },
    { name: "content-type", value: "application/grpc" },
  ]);
const data = frame(0, 1, 1, Buffer.from("\0\0\0\0\0", "latin1"));

test("acceptableAuthority percent-encodes what nghttp2 refuses and keeps the rest", () => {
  assert.equal(acceptableAuthority("/run/berth/cri.sock"), "%2Frun%2Fberth%2Fcri.sock");
  assert.equal(acceptableAuthority("%2Frun%2Fberth%2Fcri.sock"), "%2Frun%2Fberth%2Fcri.sock");
  assert.equal(acceptableAuthority("localhost"), "localhost");
  assert.equal(acceptableAuthority("[::1]:8080"), "[::1]:8080");
  assert.equal(acceptableAuthority("user@host:1"), "user@host:1");
  assert.equal(acceptableAuthority(""), "localhost");
  assert.equal(acceptableAuthority('a b\u00ff"'), "a%20b%FF%22");
});

for (const split of [1, 7, "whole"] as const) {
  test(`the authority is rewritten and other frames pass unchanged (reads of ${split})`, () => {
    const input = Buffer.concat([PREFACE, settings, frame(1, 0x4, 1, request("/run/berth/cri.sock")), data]);
    const { output, errors } = rewrite(input, split);
    assert.deepEqual(errors, []);
    const view = serverView(output);
    assert.equal(view.length, 3);
    assert.deepEqual(view[0], { type: 4, flags: 0, streamId: 0, payload: Buffer.alloc(0) });
    assert.deepEqual(
      view[1]?.fields?.map((f) => [f.name, f.value]),
      [
        [":method", "POST"],
        [":scheme", "http"],
        [":path", "/containerd.services.version.v1.Version/Version"],
        [":authority", "%2Frun%2Fberth%2Fcri.sock"],
        ["content-type", "application/grpc"],
      ],
    );
    assert.equal(view[1]?.flags, 0x4);
    assert.deepEqual(view[2], {
      type: 0,
      flags: 1,
      streamId: 1,
      payload: Buffer.from("\0\0\0\0\0", "latin1"),
    });
  });
}

test("DATA frames are passed on as slices of the input, not copies", () => {
  const big = frame(0, 0, 1, Buffer.alloc(60_000, 7));
  const input = Buffer.concat([PREFACE, frame(1, 0x4, 1, request("localhost")), big, big]);
  const { chunks } = rewrite(input, "whole");
  const last = chunks[chunks.length - 1] as Buffer;
  assert.equal(last.length, 2 * big.length, "both DATA frames in one slice");
  assert.equal(last.buffer, input.buffer);
  // Split reads: the payload goes out in the pieces it came in, still no copies.
  const pieces: Buffer[] = [];
  const r = new RequestRewriter(
    (c) => pieces.push(c),
    () => assert.fail(),
  );
  for (let i = 0; i < input.length; i += 1000) r.write(input.subarray(i, i + 1000));
  const sliced = pieces.filter((c) => c.buffer === input.buffer).reduce((n, c) => n + c.length, 0);
  assert.ok(sliced >= 2 * 60_000, `${sliced} octets sliced`);
});

test("the dynamic table and Huffman strings of the client are followed across requests", () => {
  // RFC 7541 C.4: three requests, the later ones indexing fields the first one added.
  const blocks = [
    "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
    "8286 84be 5886 a8eb 1064 9cbf",
    "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
  ];
  const input = Buffer.concat([PREFACE, ...blocks.map((b, i) => frame(1, 0x5, 2 * i + 1, hex(b)))]);
  const view = serverView(rewrite(input, 1).output);
  assert.deepEqual(
    view.map((f) => f.fields?.find((x) => x.name === ":authority")?.value),
    ["www.example.com", "www.example.com", "www.example.com"],
  );
  assert.deepEqual(view[2]?.fields?.at(-1), { name: "custom-key", value: "custom-value" });
  assert.ok(
    view.every((f) => f.flags === 0x5),
    "END_STREAM kept",
  );
});

test("CONTINUATION frames are gathered into one block; padding goes, priority stays", () => {
  const block = request("/run/a.sock");
  const padded = Buffer.concat([Buffer.from([3]), hex("8000000310"), block.subarray(0, 10), Buffer.alloc(3)]);
  const input = Buffer.concat([
    PREFACE,
    frame(1, 0x8 | 0x20 | 0x1, 5, padded),
    frame(9, 0, 5, block.subarray(10, 20)),
    frame(9, 0x4, 5, block.subarray(20)),
    data,
  ]);
  const { output, errors } = rewrite(input, 1);
  assert.deepEqual(errors, []);
  const frames = parseFrames(output);
  assert.equal(frames[0]?.type, 1);
  assert.equal(frames[0]?.flags, 0x20 | 0x1 | 0x4);
  assert.deepEqual(frames[0]?.payload.subarray(0, 5), hex("8000000310"));
  const view = serverView(output);
  assert.equal(view[0]?.fields?.find((f) => f.name === ":authority")?.value, "%2Frun%2Fa.sock");
  assert.equal(view[1]?.type, 0);
});

test("a block over 16384 octets goes out as HEADERS and CONTINUATION frames", () => {
  const block = encodeLiterals([
    { name: ":authority", value: "/x" },
    { name: "x-big", value: "b".repeat(40_000) },
  ]);
  const { output } = rewrite(Buffer.concat([PREFACE, frame(1, 0x4 | 0x1, 1, block)]), "whole");
  const frames = parseFrames(output);
  assert.deepEqual(
    frames.map((f) => [f.type, f.flags, f.payload.length <= 16384]),
    [
      [1, 0x1, true],
      [9, 0, true],
      [9, 0x4, true],
    ],
  );
  const fields = serverView(output)[2]?.fields;
  assert.equal(fields?.[0]?.value, "%2Fx");
  assert.equal(fields?.[1]?.value.length, 40_000);
});

test("not HTTP/2: everything passes untouched for the server to refuse", () => {
  const input = Buffer.from("GET / HTTP/1.1\r\nHost: /x\r\n\r\n", "latin1");
  assert.ok(rewrite(input, 1).output.equals(input));
});

test("hostile header blocks fail the connection with a block the server refuses", () => {
  const cases: Array<[string, Buffer]> = [
    ["a bad index", frame(1, 0x4, 1, hex("be"))],
    ["an oversized integer", frame(1, 0x4, 1, hex("ffffffffffffff7f"))],
    ["bad Huffman padding", frame(1, 0x4, 1, hex("0081180081 18"))],
    ["a frame inside a header block", Buffer.concat([frame(1, 0, 1, request("x")), data])],
    [
      "a CONTINUATION of another stream",
      Buffer.concat([frame(1, 0, 1, request("x")), frame(9, 4, 3, hex("82"))]),
    ],
    ["padding longer than the frame", frame(1, 0x8 | 0x4, 1, hex("0582"))],
    [
      "a block too large",
      Buffer.concat([
        frame(1, 0, 1, Buffer.alloc(16000)),
        ...Array(20).fill(frame(9, 0, 1, Buffer.alloc(16000))),
      ]),
    ],
  ];
  for (const [what, bad] of cases) {
    for (const split of [1, "whole"] as const) {
      const input = Buffer.concat([PREFACE, settings, bad, data, frame(1, 0x4, 3, request("y"))]);
      const { output, errors } = rewrite(input, split);
      assert.equal(errors.length, 1, what);
      const frames = parseFrames(output);
      assert.equal(frames[0]?.type, 4, what);
      const last = frames.at(-1);
      assert.deepEqual([last?.type, last?.payload], [1, Buffer.from([0x80])], `${what}: ends with index 0`);
      assert.equal(frames.filter((f) => f.type === 0).length, 0, `${what}: nothing after the failure`);
    }
  }
});
