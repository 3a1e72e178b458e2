import { test } from "node:test";
import { rejectsWith } from "../testing/harness.js";
import { checkpointContainer } from "./unimplemented.js";

test("CheckpointContainer fails with NotImplemented saying why", async () => {
  await rejectsWith(
    checkpointContainer({ containerId: "abc", location: "/tmp/x.tar", timeout: 0n }),
    "NotImplemented",
    /CheckpointContainer of abc is not supported: berth-cri has no CRIU integration/,
  );
});
