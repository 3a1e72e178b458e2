import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { CniNetwork, loadCniConfig, parseCniConfig, resultIps } from "./cni.js";

test("a .conflist keeps its plugins; a .conf becomes a list of one", () => {
  const list = parseCniConfig(
    JSON.stringify({ cniVersion: "1.0.0", name: "n", plugins: [{ type: "bridge" }, { type: "portmap" }] }),
    "/x/10.conflist",
  );
  assert.deepEqual(
    list.plugins.map((p) => p.type),
    ["bridge", "portmap"],
  );
  const single = parseCniConfig(
    JSON.stringify({ cniVersion: "0.4.0", name: "n", type: "bridge" }),
    "/x/10.conf",
  );
  assert.equal(single.plugins.length, 1);
  assert.throws(() => parseCniConfig("{}", "/x/a.conflist"), /has no name/);
  assert.throws(
    () => parseCniConfig('{"name":"n","plugins":[{"type":"../x"}]}', "/x/a.conflist"),
    /valid "type"/,
  );
});

test("the pod's IPs on eth0 from a 1.0.0 result, IPv4 first; 0.2.0 results too", () => {
  const result = {
    cniVersion: "1.0.0",
    interfaces: [
      { name: "cni0", mac: "x" },
      { name: "veth1", mac: "y" },
      { name: "eth0", mac: "z", sandbox: "/run/netns/x" },
    ],
    ips: [
      { address: "fd00::5/64", interface: 2 },
      { address: "10.88.0.5/16", gateway: "10.88.0.1", interface: 2 },
      { address: "10.88.0.1/16", interface: 0 },
    ],
  };
  assert.deepEqual(resultIps(result, "eth0"), ["10.88.0.5", "fd00::5"]);
  assert.deepEqual(resultIps({ cniVersion: "0.2.0", ip4: { ip: "10.1.0.2/24" } }, "eth0"), ["10.1.0.2"]);
  assert.deepEqual(resultIps(undefined, "eth0"), []);
});

test("NetworkReady is false, with a reason, while the config dir holds no network", async () => {
  const dir = await mkdtemp(join(tmpdir(), "cni-conf-"));
  try {
    const cni = new CniNetwork("/usr/lib/cni", dir);
    const empty = await cni.status();
    assert.equal(empty.ready, false);
    assert.equal(empty.reason, "NetworkPluginNotReady");
    assert.match(empty.message, /no network config found/);
    await assert.rejects(cni.currentConfig(), /cni plugin not initialized/);
    await writeFile(
      join(dir, "20-b.conflist"),
      JSON.stringify({ cniVersion: "1.0.0", name: "b", plugins: [{ type: "bridge" }] }),
    );
    await writeFile(
      join(dir, "10-a.conf"),
      JSON.stringify({ cniVersion: "0.4.0", name: "a", type: "bridge" }),
    );
    await writeFile(join(dir, "README"), "not a config");
    assert.equal((await cni.status()).ready, true);
    assert.equal((await loadCniConfig(dir))?.name, "a");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
