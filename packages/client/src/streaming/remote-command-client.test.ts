import assert from "node:assert/strict";
import { type IncomingMessage, createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { PassThrough } from "node:stream";
import { after, before, test } from "node:test";
import { RemoteCommand } from "./remote-command-client.js";
import { SpdySession, type SpdyStream, readToEnd } from "./spdy/session.js";
import { UpgradeRefusedError } from "./upgrade.js";

// A streaming server in miniature: /cat answers like an exec of `cat; echo err >&2; exit 3`,
// /tty records the sizes it is sent and exits 0 once stdin ends, /used is a spent token.

type Handler = (streams: Map<string, SpdyStream>) => void;

const errorStatus = (code: number) =>
  JSON.stringify({
    metadata: {},
    status: "Failure",
    message: `command terminated with non-zero exit code: exit ${code}`,
    reason: "NonZeroExitCode",
    details: { causes: [{ reason: "ExitCode", message: String(code) }] },
  });

const sizes: string[] = [];
const handlers: Record<string, { expect: string[]; run: Handler }> = {
  "/cat": {
    expect: ["error", "stdin", "stdout", "stderr"],
    run: (s) => {
      const stdout = s.get("stdout")!;
      s.get("stdin")!.pipe(stdout, { end: false });
      s.get("stdin")!.once("end", () => {
        s.get("stderr")!.end("err\n");
        stdout.end();
        s.get("error")!.end(errorStatus(3));
      });
    },
  },
  "/tty": {
    expect: ["error", "stdin", "stdout", "resize"],
    run: (s) => {
      s.get("resize")!.on("data", (d: Buffer) => sizes.push(d.toString()));
      s.get("stdin")!.resume();
      s.get("stdin")!.once("end", () => {
        s.get("stdout")!.end("bye\r\n");
        s.get("error")!.end('{"metadata":{},"status":"Success"}');
      });
    },
  },
};

const server = createServer((_req, res) => res.writeHead(404).end("404 page not found\n"));
server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
  const handler = handlers[req.url ?? ""];
  if (handler === undefined) {
    socket.end("HTTP/1.1 404 Not Found\r\nContent-Length: 19\r\n\r\n404 page not found\n");
    return;
  }
  socket.write(
    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n" +
      `X-Stream-Protocol-Version: ${req.headers["x-stream-protocol-version"]}\r\n\r\n`,
  );
  const streams = new Map<string, SpdyStream>();
  new SpdySession(socket, head, {
    role: "server",
    onStream: (stream) => {
      stream.accept();
      streams.set(stream.header("streamType") ?? "", stream);
      if (handler.expect.every((t) => streams.has(t))) handler.run(streams);
    },
  });
});
let base = "";
before(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

test("stdin goes in and its end half-closes it; stdout and stderr apart; the exit code", async () => {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out = readToEnd(stdout);
  const err = readToEnd(stderr);
  const cmd = await RemoteCommand.open(`${base}/cat`, { stdin, stdout, stderr, tty: false });
  stdin.write("one\n");
  stdin.end("two\n");
  await cmd.stdinEnded;
  const result = await cmd.result;
  assert.deepEqual(result, {
    kind: "exit",
    code: 3,
    message: "command terminated with non-zero exit code: exit 3",
  });
  stdout.end();
  stderr.end();
  assert.equal(String(await out), "one\ntwo\n");
  assert.equal(String(await err), "err\n");
});

test("with a terminal: no stderr stream, sizes go on the resize stream", async () => {
  sizes.length = 0;
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const cmd = await RemoteCommand.open(`${base}/tty`, { stdin, stdout, tty: true });
  cmd.resize({ width: 80, height: 24 });
  cmd.resize({ width: 100, height: 30 });
  await new Promise((r) => setTimeout(r, 50));
  stdin.end();
  assert.deepEqual(await cmd.result, { kind: "success" });
  assert.equal(sizes.join(""), '{"Width":80,"Height":24}{"Width":100,"Height":30}');
  assert.equal(String(stdout.read()), "bye\r\n");
});

test("a spent URL is an UpgradeRefusedError with the server's words", async () => {
  await assert.rejects(
    RemoteCommand.open(`${base}/used`, { stdout: new PassThrough(), tty: false }),
    (err: unknown) =>
      err instanceof UpgradeRefusedError &&
      err.status === 404 &&
      err.message === `the streaming server at ${base.slice(7)} answered 404 (404 page not found)`,
  );
});
