// A private CNI network for a test: a bridge of its own on a test subnet (no masquerade),
// host-local IPAM state in a temp dir, and iptables FORWARD drops so nothing on the
// bridge reaches any other interface. cleanup() deletes all of it.
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { removeDir, tempDir } from "../fixtures/tmp.js";

export interface TestNetwork {
  confDir: string;
  bridge: string;
  /** "10.123.N.0/24" */
  subnet: string;
  /** "10.123.N." */
  prefix: string;
  cleanup(): Promise<void>;
}

async function iptables(args: string[]): Promise<void> {
  const r = await execa("iptables", ["-w", "10", ...args], { reject: false, timeout: 30_000 });
  if (r.exitCode !== 0) throw new Error(`iptables ${args.join(" ")}: ${r.stderr}`);
}

export async function createTestNetwork(): Promise<TestNetwork> {
  const dir = await tempDir("cni-");
  const confDir = join(dir, "net.d");
  await mkdir(confDir);
  const bridge = `bcri${randomBytes(3).toString("hex")}`;
  const n = 1 + ((randomBytes(1)[0] ?? 0) % 250);
  const prefix = `10.123.${n}.`;
  const subnet = `${prefix}0/24`;
  const conflist = {
    cniVersion: "1.0.0",
    name: `berth-e2e-${bridge}`,
    plugins: [
      {
        type: "bridge",
        bridge,
        isGateway: true,
        ipMasq: false,
        ipam: { type: "host-local", ranges: [[{ subnet }]], dataDir: join(dir, "ipam") },
      },
      { type: "portmap", capabilities: { portMappings: true } },
      { type: "loopback" },
    ],
  };
  await writeFile(join(confDir, "10-test.conflist"), JSON.stringify(conflist, null, 2));
  const rules = [
    ["FORWARD", "-i", bridge, "!", "-o", bridge, "-j", "DROP"],
    ["FORWARD", "-o", bridge, "!", "-i", bridge, "-j", "DROP"],
  ];
  for (const r of rules) await iptables(["-I", ...r]);
  return {
    confDir,
    bridge,
    subnet,
    prefix,
    async cleanup() {
      for (const r of rules) await iptables(["-D", ...r]).catch(() => undefined);
      await execa("ip", ["link", "del", bridge], { reject: false, timeout: 30_000 });
      await removeDir(dir);
    },
  };
}
