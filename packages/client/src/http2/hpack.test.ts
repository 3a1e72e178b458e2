import assert from "node:assert/strict";
import { test } from "node:test";
import {
  HUFFMAN,
  type HeaderField,
  HpackDecoder,
  HpackError,
  encodeLiterals,
  huffmanDecode,
} from "./hpack.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const pairs = (fields: HeaderField[]) => fields.map((f) => [f.name, f.value]);

function huffmanEncode(s: string): Buffer {
  const out: number[] = [];
  let acc = 0n;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    acc = (acc << BigInt(HUFFMAN[2 * c + 1] as number)) | BigInt(HUFFMAN[2 * c] as number);
    bits += HUFFMAN[2 * c + 1] as number;
    while (bits >= 8) {
      bits -= 8;
      out.push(Number((acc >> BigInt(bits)) & 0xffn));
    }
  }
  if (bits > 0) out.push(Number(((acc << BigInt(8 - bits)) | ((1n << BigInt(8 - bits)) - 1n)) & 0xffn));
  return Buffer.from(out);
}

test("C.2: one field of each representation", () => {
  const d = new HpackDecoder();
  assert.deepEqual(pairs(d.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"))), [
    ["custom-key", "custom-header"],
  ]);
  assert.deepEqual(d.table, [["custom-key", "custom-header"]]);
  assert.equal(d.size, 55);

  const d2 = new HpackDecoder();
  assert.deepEqual(pairs(d2.decode(hex("040c 2f73 616d 706c 652f 7061 7468"))), [[":path", "/sample/path"]]);
  assert.equal(d2.table.length, 0);

  const d3 = new HpackDecoder();
  assert.deepEqual(d3.decode(hex("1008 7061 7373 776f 7264 0673 6563 7265 74")), [
    { name: "password", value: "secret", sensitive: true },
  ]);
  assert.equal(d3.table.length, 0);

  assert.deepEqual(pairs(new HpackDecoder().decode(hex("82"))), [[":method", "GET"]]);
});

const requests = [
  {
    fields: [
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "www.example.com"],
    ],
    table: [[":authority", "www.example.com"]],
    size: 57,
  },
  {
    fields: [
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "www.example.com"],
      ["cache-control", "no-cache"],
    ],
    table: [
      ["cache-control", "no-cache"],
      [":authority", "www.example.com"],
    ],
    size: 110,
  },
  {
    fields: [
      [":method", "GET"],
      [":scheme", "https"],
      [":path", "/index.html"],
      [":authority", "www.example.com"],
      ["custom-key", "custom-value"],
    ],
    table: [
      ["custom-key", "custom-value"],
      ["cache-control", "no-cache"],
      [":authority", "www.example.com"],
    ],
    size: 164,
  },
];

function checkSequence(d: HpackDecoder, blocks: string[], expected: typeof requests) {
  blocks.forEach((block, i) => {
    const want = expected[i] as (typeof requests)[number];
    assert.deepEqual(pairs(d.decode(hex(block))), want.fields, `block ${i + 1}`);
    assert.deepEqual(d.table, want.table, `table after block ${i + 1}`);
    assert.equal(d.size, want.size, `table size after block ${i + 1}`);
  });
}

test("C.3: requests without Huffman share one dynamic table", () => {
  checkSequence(
    new HpackDecoder(),
    [
      "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
      "8286 84be 5808 6e6f 2d63 6163 6865",
      "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ],
    requests,
  );
});

test("C.4: requests with Huffman", () => {
  checkSequence(
    new HpackDecoder(),
    [
      "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
      "8286 84be 5886 a8eb 1064 9cbf",
      "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    ],
    requests,
  );
});

const date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
const date2 = "Mon, 21 Oct 2013 20:13:22 GMT";
const cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
const responses = [
  {
    fields: [
      [":status", "302"],
      ["cache-control", "private"],
      ["date", date1],
      ["location", "https://www.example.com"],
    ],
    table: [
      ["location", "https://www.example.com"],
      ["date", date1],
      ["cache-control", "private"],
      [":status", "302"],
    ],
    size: 222,
  },
  {
    fields: [
      [":status", "307"],
      ["cache-control", "private"],
      ["date", date1],
      ["location", "https://www.example.com"],
    ],
    table: [
      [":status", "307"],
      ["location", "https://www.example.com"],
      ["date", date1],
      ["cache-control", "private"],
    ],
    size: 222,
  },
  {
    fields: [
      [":status", "200"],
      ["cache-control", "private"],
      ["date", date2],
      ["location", "https://www.example.com"],
      ["content-encoding", "gzip"],
      ["set-cookie", cookie],
    ],
    table: [
      ["set-cookie", cookie],
      ["content-encoding", "gzip"],
      ["date", date2],
    ],
    size: 215,
  },
];

test("C.5: responses without Huffman evict from a 256-octet table", () => {
  checkSequence(
    new HpackDecoder(256),
    [
      `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
       2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
       6c65 2e63 6f6d`,
      "4803 3330 37c1 c0bf",
      `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
       54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
       5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
       3d31`,
    ],
    responses,
  );
});

test("C.6: responses with Huffman evict from a 256-octet table", () => {
  checkSequence(
    new HpackDecoder(256),
    [
      `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
       2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
      "4883 640e ffc1 c0bf",
      `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
       77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
       9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
    ],
    responses,
  );
});

test("a size update shrinks the table and may only open a block", () => {
  const d = new HpackDecoder();
  d.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
  assert.equal(d.table.length, 1);
  d.decode(hex("20")); // size 0 empties it
  assert.equal(d.table.length, 0);
  assert.equal(d.size, 0);
  // A table of 0 keeps nothing.
  d.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
  assert.equal(d.table.length, 0);
  d.decode(hex("3fe1 1f")); // back to 4096
  d.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
  assert.equal(d.table.length, 1);
  assert.throws(() => d.decode(hex("823fe21f")), HpackError);
  assert.throws(() => new HpackDecoder().decode(hex("3fe21f")), /over the limit 4096/); // 4097
});

test("literals round trip, with long values, unknown names and sensitive fields", () => {
  const fields: HeaderField[] = [
    { name: ":method", value: "POST" },
    { name: ":authority", value: "%2Frun%2Fberth%2Fcri.sock" },
    { name: "content-type", value: "application/grpc" },
    { name: "grpc-timeout", value: "10S" },
    { name: "authorization", value: "Bearer x", sensitive: true },
    { name: "x-long", value: "v".repeat(70_000) },
    { name: "x-bytes", value: Buffer.from([0, 1, 127, 128, 200, 255]).toString("latin1") },
    { name: "", value: "" },
  ];
  const block = encodeLiterals(fields);
  const d = new HpackDecoder();
  assert.deepEqual(d.decode(block), fields);
  assert.equal(d.table.length, 0, "literals leave the table empty");
  // Known names come from the static table: :method is index 2, 4-bit prefix, no indexing.
  assert.deepEqual([...block.subarray(0, 2)], [0x02, 4]);
});

test("every symbol decodes from its Huffman code", () => {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString("latin1");
  assert.equal(huffmanDecode(huffmanEncode(all)), all);
  for (let i = 0; i < 256; i++) {
    const s = String.fromCharCode(i).repeat(3);
    assert.equal(huffmanDecode(huffmanEncode(s)), s);
  }
  assert.equal(huffmanDecode(Buffer.alloc(0)), "");
});

test("hostile blocks are HpackErrors", () => {
  const bad: Array<[string, string, RegExp]> = [
    ["index 0", "80", /index 0/],
    ["an index past both tables", "be", /index 62/],
    ["a name index past both tables", "7f00 0161", /index 63/],
    ["an integer too large", "ff ff ff ff ff ff 7f", /too large/],
    ["an integer cut short", "ff ff", /inside an integer/],
    ["a string past the end", "0005 6162", /past the end/],
    ["a block cut before a value", "0001 61", /before a string/],
    ["Huffman padding of zeros", "0081 18 00", /bad padding/], // 'a' is 00011, padded with 000
    ["Huffman padding of 8 ones or more", "0082 1fff 00", /bad padding/],
    ["the EOS symbol", "0084 ffff ffff 00", /EOS/],
  ];
  for (const [what, block, message] of bad) {
    assert.throws(() => new HpackDecoder().decode(hex(block)), message, what);
    assert.throws(() => new HpackDecoder().decode(hex(block)), HpackError, what);
  }
  assert.throws(
    () => new HpackDecoder(4096, 100).decode(encodeLiterals([{ name: "a", value: "b".repeat(100) }])),
    /over 100/,
  );
});
