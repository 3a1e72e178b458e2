// berthd's Prometheus endpoint: request counts, tasks by state, and per-container cgroup
// metrics under containerd's names and labels.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type DaemonUnderTest, startBerthdDaemon } from "./daemons.js";
import { ctr, ctrOk } from "./fixtures/ctr.js";
import { buildSimpleImage } from "./fixtures/images.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { freePort } from "./fixtures/tmp.js";

let registry: Registry;
let daemon: DaemonUnderTest;
let url: string;

before(async () => {
  registry = await startRegistry();
  const port = await freePort();
  url = `http://127.0.0.1:${port}/v1/metrics`;
  daemon = await startBerthdDaemon({ metricsAddress: `127.0.0.1:${port}` });
});
after(async () => {
  await ctr(daemon.address, ["tasks", "kill", "-s", "SIGKILL", "m1"], { namespace: "metrics" });
  await new Promise((r) => setTimeout(r, 500));
  await ctr(daemon.address, ["tasks", "rm", "-f", "m1"], { namespace: "metrics" });
  await ctr(daemon.address, ["containers", "rm", "m1"], { namespace: "metrics" });
  await daemon?.stop();
  await registry?.stop();
});

test("metrics show gRPC requests, running tasks and the container's cgroup usage", async () => {
  const image = await buildSimpleImage(registry.host, "berth/metrics", "v1");
  const ok = (args: string[]) => ctrOk(daemon.address, args, { namespace: "metrics" });
  await ok(["images", "pull", "--plain-http", image.ref]);
  await ok([
    "run",
    "-d",
    "--runtime",
    "io.containerd.runc.v2",
    image.ref,
    "m1",
    "sh",
    "-c",
    "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 1000",
  ]);
  await new Promise((r) => setTimeout(r, 1000));
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/plain/);
  const text = await res.text();
  assert.match(
    text,
    /grpc_server_handled_total\{grpc_service="containerd\.services\.images\.v1\.Images",grpc_method="Create",grpc_code="OK"\} 1/,
  );
  assert.match(text, /berth_tasks\{namespace="metrics",state="running"\} 1/);
  const cpu = /container_cpu_total_nanoseconds\{container_id="m1",namespace="metrics"\} (\d+)/.exec(text);
  assert.ok(cpu && Number(cpu[1]) > 0, "cpu time of the busy container");
  const mem = /container_memory_usage_usage_bytes\{container_id="m1",namespace="metrics"\} (\d+)/.exec(text);
  assert.ok(mem && Number(mem[1]) > 0, "memory usage of the container");
  assert.equal((await fetch(url.replace("/v1/metrics", "/nope"))).status, 404);
});
