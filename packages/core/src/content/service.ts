// containerd.services.content.v1.Content: a thin translation onto the namespaced store.
import { ContentDelete } from "@berth/api/containerd/events/content";
import {
  type ContentServiceImplementation,
  WriteAction,
  type WriteContentRequest,
  type WriteContentResponse,
} from "@berth/api/containerd/services/content/v1/content";
import { BerthError, invalidArgument } from "@berth/client/errdefs";
import type { EventPublisher } from "../events/publisher.js";
import type { NamespacedContentStore, NamespacedWriter } from "../metadata/content.js";
import type { GarbageCollector } from "../metadata/gc.js";
import { requestContext } from "../server/context.js";

const readChunk = 1 << 20;

export function contentService(
  store: NamespacedContentStore,
  gc: GarbageCollector,
  events: EventPublisher,
): ContentServiceImplementation {
  return {
    async info(req, call) {
      return { info: await store.info(requestContext(call), req.digest) };
    },
    async update(req, call) {
      if (!req.info) throw invalidArgument("info must not be empty");
      return {
        info: await store.update(
          requestContext(call),
          req.info.digest,
          req.info.labels,
          req.updateMask ?? [],
        ),
      };
    },
    async *list(req, call) {
      const infos = await store.list(requestContext(call), req.filters);
      for (let i = 0; i < infos.length; i += 100) yield { info: infos.slice(i, i + 100) };
    },
    async delete(req, call) {
      const ctx = requestContext(call);
      store.delete(ctx, req.digest);
      events.publish(ctx.namespace, "/content/delete", "containerd.events.ContentDelete", ContentDelete, {
        digest: req.digest,
      });
      gc.schedule();
      return {};
    },
    async *read(req, call) {
      if (req.offset < 0 || req.size < 0) throw invalidArgument("offset and size must not be negative");
      const reader = await store.reader(requestContext(call), req.digest);
      try {
        if (req.offset > reader.size)
          throw new BerthError("OutOfRange", `read offset ${req.offset} beyond blob size ${reader.size}`);
        const end = req.size > 0 ? Math.min(reader.size, req.offset + req.size) : reader.size;
        for (let off = req.offset; off < end && !call.signal.aborted; ) {
          const data = await reader.readAt(off, Math.min(readChunk, end - off));
          if (data.length === 0) break;
          yield { offset: off, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) };
          off += data.length;
        }
      } finally {
        await reader.close();
      }
    },
    async status(req, call) {
      return { status: await store.status(requestContext(call), req.ref) };
    },
    async listStatuses(req, call) {
      return { statuses: await store.listStatuses(requestContext(call), req.filters) };
    },
    async abort(req, call) {
      await store.abort(requestContext(call), req.ref);
      return {};
    },
    write(requests, call) {
      return writeStream(store, requests, call);
    },
  };
}

async function* writeStream(
  store: NamespacedContentStore,
  requests: AsyncIterable<WriteContentRequest>,
  call: Parameters<ContentServiceImplementation["write"]>[1],
): AsyncGenerator<Partial<WriteContentResponse>> {
  const ctx = requestContext(call);
  let writer: NamespacedWriter | null = null;
  let ref = "";
  let total = 0;
  let expected = "";
  try {
    for await (const req of requests) {
      if (!writer) {
        if (req.ref === "") throw invalidArgument("first message must have a reference");
        ref = req.ref;
        total = req.total;
        expected = req.expected;
        writer = await store.writer(ctx, ref, total, expected);
      } else if (req.ref !== "" && req.ref !== ref) {
        throw invalidArgument(`write stream is for ref ${ref}, not ${req.ref}`);
      }
      if (req.total > 0) total = req.total;
      if (req.expected !== "") expected = req.expected;
      const action = req.action;
      if (action !== WriteAction.STAT && action !== WriteAction.WRITE && action !== WriteAction.COMMIT) {
        throw invalidArgument(`${action} is not a valid write action`);
      }
      let st = await writer.status();
      if (action === WriteAction.WRITE || action === WriteAction.COMMIT) {
        if (req.offset > 0 && req.offset !== st.offset) {
          throw new BerthError(
            "OutOfRange",
            `write @${req.offset} must occur at current offset ${st.offset}`,
          );
        }
        if (req.offset === 0 && st.offset > 0 && req.data.length > 0) await writer.truncate(0);
        if (req.data.length > 0) await writer.write(req.data);
        st = await writer.status();
      }
      const resp: Partial<WriteContentResponse> = {
        action,
        startedAt: st.startedAt,
        updatedAt: st.updatedAt,
        offset: st.offset,
        total: total > 0 ? total : st.total,
        // The digest of what the ingest holds so far, as containerd's writer reports it
        // (the Go client's Writer.Digest() reads it from every answer).
        digest: writer.digest(),
      };
      if (action === WriteAction.COMMIT) {
        resp.digest = await writer.commit(total, expected, req.labels);
        writer = null;
        yield resp;
        return;
      }
      yield resp;
    }
  } finally {
    await writer?.close().catch(() => undefined);
  }
}
