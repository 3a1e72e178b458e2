// The content store suite (testsuite.ts) against every layer a client can reach, as
// containerd runs its content testsuite against the local store, the metadata store and
// the proxy: the namespaced store of the metadata layer, and berthd's Content service
// over gRPC through @berth/client. Each adapter only translates calls; what is checked is
// the suite's, so a layer that answers differently from the local store fails here.
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { WriteAction, type WriteContentResponse } from "@berth/api/containerd/services/content/v1/content";
import type { Connection } from "@berth/client/connection";
import { WriteSession } from "@berth/client/content";
import { BerthError, notImplemented } from "@berth/client/errdefs";
import { silentLogger } from "@berth/client/log";
import type { RequestContext } from "../metadata/context.js";
import { Metadata } from "../metadata/metadata.js";
import { startTestBerthd, translated } from "../server/test-berthd.js";
import { NativeSnapshotter } from "../snapshots/native.js";
import { LocalContentStore } from "./local.js";
import type { ContentInfo, ContentReader, ContentStore, ContentWriter, IngestStatus } from "./store.js";
import { contentStoreSuite } from "./testsuite.js";

contentStoreSuite("the metadata layer's namespaced store", async () => {
  const dir = await mkdtemp("/var/tmp/berth-conformance-");
  const backend = await LocalContentStore.open(join(dir, "content"));
  const native = await NativeSnapshotter.open(join(dir, "native"));
  const md = Metadata.open(dir, backend, { native }, silentLogger);
  const ctx: RequestContext = { namespace: "conformance", lease: "" };
  const content = md.content;
  const store: ContentStore = {
    info: (digest) => content.info(ctx, digest),
    list: () => content.list(ctx),
    delete: async (digest) => content.delete(ctx, digest),
    reader: (digest) => content.reader(ctx, digest),
    async writer(ref, options = {}) {
      const w = await content.writer(ctx, ref, options.total ?? 0, options.expected ?? "");
      return {
        ref: w.ref,
        status: () => w.status(),
        digest: () => w.digest(),
        write: (data) => w.write(data),
        truncate: (size) => w.truncate(size),
        commit: (size, expected) => w.commit(size, expected, {}),
        close: () => w.close(),
      };
    },
    status: (ref) => content.status(ctx, ref),
    listStatuses: () => content.listStatuses(ctx),
    abort: (ref) => content.abort(ctx, ref),
    blobPath: (digest) => backend.blobPath(digest),
  };
  return {
    store,
    teardown: async () => {
      await md.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

contentStoreSuite("berthd's Content service over gRPC", async () => {
  const dir = await mkdtemp("/var/tmp/berth-conformance-");
  const { conn, stop } = await startTestBerthd(dir, "conformance", "conformance");
  return {
    store: grpcContentStore(conn),
    teardown: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

function grpcContentStore(conn: Connection): ContentStore {
  const info = (i: {
    digest: string;
    size: number;
    createdAt?: Date;
    updatedAt?: Date;
    labels: Record<string, string>;
  }): ContentInfo => ({
    digest: i.digest,
    size: i.size,
    createdAt: i.createdAt ?? new Date(0),
    updatedAt: i.updatedAt ?? new Date(0),
    labels: i.labels,
  });
  const status = (s: {
    ref: string;
    offset: number;
    total: number;
    expected: string;
    startedAt?: Date | undefined;
    updatedAt?: Date | undefined;
  }): IngestStatus => ({
    ref: s.ref,
    offset: s.offset,
    total: s.total,
    expected: s.expected,
    startedAt: s.startedAt ?? new Date(0),
    updatedAt: s.updatedAt ?? new Date(0),
  });
  return {
    info: (digest) =>
      translated(async () => {
        const res = await conn.content.info({ digest });
        if (res.info === undefined) throw new BerthError("Unknown", "Info answered without an info");
        return info(res.info);
      }),
    list: () =>
      translated(async () => {
        const out: ContentInfo[] = [];
        for await (const res of conn.content.list({ filters: [] })) out.push(...res.info.map(info));
        return out;
      }),
    delete: (digest) =>
      translated(async () => {
        await conn.content.delete({ digest });
      }),
    reader: (digest) =>
      translated(async (): Promise<ContentReader> => {
        const res = await conn.content.info({ digest });
        const size = res.info?.size ?? 0;
        return {
          size,
          readAt: (offset, length) =>
            translated(async () => {
              if (offset >= size) return new Uint8Array(0);
              const parts: Buffer[] = [];
              for await (const r of conn.content.read({ digest, offset, size: length }))
                parts.push(Buffer.from(r.data));
              return Buffer.concat(parts);
            }),
          close: async () => undefined,
        };
      }),
    writer: (ref, options = {}) =>
      translated(async (): Promise<ContentWriter> => {
        const session = new WriteSession(conn, undefined);
        let last: WriteContentResponse;
        try {
          last = await session.send({
            action: WriteAction.STAT,
            ref,
            total: options.total ?? 0,
            expected: options.expected ?? "",
          });
        } catch (err) {
          await session.close();
          throw err;
        }
        let offset = last.offset;
        let digest = last.digest;
        return {
          ref,
          status: () =>
            translated(async () => {
              const r = await session.send({ action: WriteAction.STAT, ref });
              return status({ ...r, ref, expected: r.digest === "" ? (options.expected ?? "") : r.digest });
            }),
          digest: () => digest,
          write: (data) =>
            translated(async () => {
              const r = await session.send({
                action: WriteAction.WRITE,
                ref,
                offset,
                data: Buffer.from(data),
              });
              offset = r.offset;
              digest = r.digest;
            }),
          truncate: async (size) => {
            // As containerd's remote writer: only to 0, and done by the next WRITE at offset 0.
            if (size !== 0) throw notImplemented("the Write API truncates only to 0");
            offset = 0;
          },
          commit: (size, expected) =>
            translated(async () => {
              const r = await session.send({
                action: WriteAction.COMMIT,
                ref,
                offset,
                total: size,
                expected,
              });
              await session.close();
              return r.digest;
            }),
          close: () => session.close(),
        };
      }),
    status: (ref) =>
      translated(async () => {
        const res = await conn.content.status({ ref });
        if (res.status === undefined) throw new BerthError("Unknown", "Status answered without a status");
        return status(res.status);
      }),
    listStatuses: () =>
      translated(async () => (await conn.content.listStatuses({ filters: [] })).statuses.map(status)),
    abort: (ref) =>
      translated(async () => {
        await conn.content.abort({ ref });
      }),
    blobPath: () => {
      throw notImplemented("blob paths are berthd's own; a client reads through Read");
    },
  };
}
