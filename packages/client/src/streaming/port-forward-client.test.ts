import assert from "node:assert/strict";
import { type IncomingMessage, createServer } from "node:http";
import net, { type AddressInfo, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { PortForward, PortForwardError } from "./port-forward-client.js";
import { SpdySession, type SpdyStream, readToEnd } from "./spdy/session.js";

// A port forwarding server in miniature: port 7 answers each connection with what it sent,
// upper-cased, once the client half-closes; any other port is reported unreachable.

const seen: Array<{ port: string; requestId: string }> = [];
const server = createServer();
server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
  socket.write(
    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n" +
      `X-Stream-Protocol-Version: ${req.headers["x-stream-protocol-version"]}\r\n\r\n`,
  );
  const pairs = new Map<string, { data?: SpdyStream; error?: SpdyStream }>();
  new SpdySession(socket, head, {
    role: "server",
    onStream: (stream) => {
      stream.accept();
      const requestId = stream.header("requestID") ?? "";
      const pair = pairs.get(requestId) ?? {};
      pairs.set(requestId, pair);
      pair[stream.header("streamType") === "data" ? "data" : "error"] = stream;
      const { data, error } = pair;
      if (data === undefined || error === undefined) return;
      const port = stream.header("port") ?? "";
      seen.push({ port, requestId });
      error.resume();
      if (port !== "7") {
        error.end(
          `error forwarding port ${port} to pod p, uid : dial tcp4 127.0.0.1:${port}: connection refused`,
        );
        data.end();
        return;
      }
      readToEnd(data).then((b) => {
        data.end(String(b).toUpperCase());
        error.end();
      });
    },
  });
});

let url = "";
before(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/portforward/token`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

/** Both ends of a local TCP connection. */
async function connection(): Promise<{ ours: Socket; theirs: Socket }> {
  const listener = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
  const accepted = new Promise<Socket>((r) => listener.once("connection", r));
  const theirs = net.connect({
    port: (listener.address() as AddressInfo).port,
    host: "127.0.0.1",
    allowHalfOpen: true,
  });
  const ours = await accepted;
  listener.close();
  return { ours, theirs };
}

test("connections at once, each its own request ID; half-closes pass through", async () => {
  const forward = await PortForward.open(url);
  const runs = await Promise.all(
    ["a", "b", "c"].map(async (word) => {
      const { ours, theirs } = await connection();
      const done = forward.forward(ours, 7);
      theirs.end(`hello ${word}`);
      const answer = await readToEnd(theirs);
      await done;
      return String(answer);
    }),
  );
  assert.deepEqual(runs, ["HELLO A", "HELLO B", "HELLO C"]);
  assert.deepEqual(seen.map((s) => s.requestId).sort(), ["0", "1", "2"]);
  forward.close();
  await forward.closed;
});

test("the server's error is the forward's, the connection is dropped, others go on", async () => {
  const forward = await PortForward.open(url);
  const bad = await connection();
  await assert.rejects(
    forward.forward(bad.ours, 8),
    (err: unknown) =>
      err instanceof PortForwardError &&
      err.port === 8 &&
      /^error forwarding port 8 to pod p, uid : dial tcp4 127\.0\.0\.1:8: connection refused$/.test(
        err.message,
      ),
  );
  assert.equal(String(await readToEnd(bad.theirs)), "", "the connection is ended with nothing sent");
  bad.theirs.destroy();
  const good = await connection();
  const done = forward.forward(good.ours, 7);
  good.theirs.end("still");
  assert.equal(String(await readToEnd(good.theirs)), "STILL");
  await done;
  forward.close();
  await forward.closed;
});
