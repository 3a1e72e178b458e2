import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { TaskExit, TaskStart } from "@berth/api/containerd/events/task";
import { type Envelope, EventsDefinition } from "@berth/api/containerd/services/ttrpc/events/v1/events";
import { TtrpcServer } from "@berth/ttrpc";
import { EventPublisher, Topics, packEvent } from "./events.js";

describe("EventPublisher", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-shim-events-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("queues events while the daemon is away and delivers them in order with the namespace", async () => {
    const address = join(dir, "events.sock");
    const publisher = new EventPublisher({ address, namespace: "ns1" });
    publisher.publish(
      Topics.start,
      packEvent("TaskStart", TaskStart, TaskStart.fromPartial({ containerId: "c", pid: 5 })),
    );
    publisher.publish(
      Topics.exit,
      packEvent("TaskExit", TaskExit, TaskExit.fromPartial({ containerId: "c", id: "c", exitStatus: 3 })),
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(publisher.pending, 2);

    const got: Array<{ envelope: Envelope | undefined; namespace: string | undefined }> = [];
    const server = new TtrpcServer().register(EventsDefinition, {
      async forward(request, ctx) {
        got.push({ envelope: request.envelope, namespace: ctx.namespace });
        return {};
      },
    });
    await server.listen(address);
    try {
      await publisher.flush(10_000);
      assert.equal(publisher.pending, 0);
      assert.deepEqual(
        got.map((g) => [g.envelope?.topic, g.envelope?.event?.typeUrl, g.envelope?.namespace, g.namespace]),
        [
          ["/tasks/start", "containerd.events.TaskStart", "ns1", "ns1"],
          ["/tasks/exit", "containerd.events.TaskExit", "ns1", "ns1"],
        ],
      );
      const exit = TaskExit.decode(got[1]!.envelope!.event!.value);
      assert.equal(exit.exitStatus, 3);
    } finally {
      publisher.close();
      await server.close();
    }
  });

  it("drops the oldest events beyond the queue bound", () => {
    const publisher = new EventPublisher({ address: join(dir, "nobody.sock"), namespace: "n", maxQueue: 2 });
    for (let i = 0; i < 5; i++) publisher.publish(Topics.oom, { typeUrl: "x", value: Buffer.alloc(0) });
    assert.equal(publisher.pending, 2);
    assert.equal(publisher.dropped, 3);
    publisher.close();
  });
});
