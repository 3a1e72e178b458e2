import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { test } from "node:test";
import { WebSocketConnection } from "./websocket.js";

/** A connected pair: the server side wrapped in a WebSocketConnection, the raw client side. */
async function pair(onMessage: (data: Buffer, binary: boolean) => void) {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
  const client = net.connect(port, "127.0.0.1");
  const socket = await accepted;
  server.close();
  let closed = false;
  const ws = new WebSocketConnection(socket, Buffer.alloc(0), {
    onMessage,
    onClose: () => {
      closed = true;
    },
  });
  const received: Buffer[] = [];
  client.on("data", (d: Buffer) => received.push(d));
  return { ws, client, received: () => Buffer.concat(received), closed: () => closed };
}

function clientFrame(opcode: number, payload: Buffer, fin = true, masked = true): Buffer {
  const mask = randomBytes(4);
  const head = Buffer.from([(fin ? 0x80 : 0) | opcode, (masked ? 0x80 : 0) | payload.length]);
  const body = masked ? Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!)) : payload;
  return Buffer.concat(masked ? [head, mask, body] : [head, body]);
}

const settle = () => new Promise((r) => setTimeout(r, 50));

test("fragments make one message; a ping gets its pong; frames from the server are unmasked", async () => {
  const messages: Array<[string, boolean]> = [];
  const p = await pair((d, binary) => messages.push([d.toString(), binary]));
  p.client.write(
    Buffer.concat([clientFrame(1, Buffer.from("hel"), false), clientFrame(9, Buffer.from("hi"))]),
  );
  p.client.write(clientFrame(0, Buffer.from("lo")));
  p.client.write(clientFrame(2, Buffer.from([1, 2])));
  await settle();
  await p.ws.send(Buffer.from("out"));
  await settle();
  assert.deepEqual(messages, [
    ["hello", false],
    ["\x01\x02", true],
  ]);
  assert.deepEqual([...p.received()], [0x8a, 2, ...Buffer.from("hi"), 0x82, 3, ...Buffer.from("out")]);
  p.client.destroy();
});

test("an unmasked client frame ends the connection with 1002", async () => {
  const p = await pair(() => assert.fail("no message expected"));
  p.client.write(clientFrame(2, Buffer.from("x"), true, false));
  await settle();
  const close = p.received();
  assert.equal(close[0], 0x88);
  assert.equal(close.readUInt16BE(2), 1002);
  p.client.destroy();
  await settle();
  assert.ok(p.closed());
});

test("the client's close is answered with the same code", async () => {
  const p = await pair(() => {});
  const code = Buffer.alloc(2);
  code.writeUInt16BE(1001);
  p.client.write(clientFrame(8, code));
  await new Promise((r) => p.client.once("close", r));
  await settle();
  assert.deepEqual([...p.received()], [0x88, 2, 0x03, 0xe9]);
  assert.ok(p.closed());
});
