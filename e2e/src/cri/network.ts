// A private CNI network for a test: a bridge of its own on a test subnet (no masquerade),
// host-local IPAM state in a temp dir, and iptables FORWARD drops so nothing on the
// bridge reaches any other interface. cleanup() deletes all of it.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
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

const IP_FORWARD = "/proc/sys/net/ipv4/ip_forward";

async function natRules(): Promise<string[]> {
  const r = await execa("iptables", ["-w", "10", "-t", "nat", "-S"], { reject: false, timeout: 30_000 });
  return r.exitCode === 0 ? r.stdout.split("\n") : [];
}

async function natChains(): Promise<Set<string>> {
  return new Set((await natRules()).filter((l) => l.startsWith("-N ")).map((l) => l.slice(3).trim()));
}

/** The words of an `iptables -S` rule, with "quoted comments" kept whole. */
function ruleWords(rule: string): string[] {
  const words: string[] = [];
  for (const m of rule.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) words.push(m[1] ?? m[2] ?? "");
  return words;
}

/**
 * Deletes the CNI-HOSTPORT-* chains portmap made during the test (and the jumps to them),
 * when they hold no rules any more: they are shared by every pod with host ports.
 */
async function removeEmptyPortmapChains(before: Set<string>): Promise<void> {
  const rules = await natRules();
  const created = [...(await natChains())].filter((c) => c.startsWith("CNI-HOSTPORT-") && !before.has(c));
  for (const chain of created) {
    if (rules.some((l) => l.startsWith(`-A ${chain} `) && !/-j CNI-HOSTPORT-|-j MARK|-j MASQUERADE/.test(l)))
      return;
  }
  for (const chain of created) {
    for (const l of rules.filter((r) => r.startsWith("-A ") && r.includes(`-j ${chain}`))) {
      await iptables(["-t", "nat", "-D", ...ruleWords(l.slice(3))]).catch(() => undefined);
    }
  }
  for (const chain of created) await iptables(["-t", "nat", "-F", chain]).catch(() => undefined);
  for (const chain of created) await iptables(["-t", "nat", "-X", chain]).catch(() => undefined);
}

/**
 * A third octet for 10.123.N.0/24 that no route on the node uses yet: a bridge left by an
 * earlier run (or another test) on the same /24 would take the pods' traffic.
 */
async function unusedSubnet(): Promise<number> {
  const routes = await readFile("/proc/net/route", "utf8");
  const used = new Set<number>();
  for (const line of routes.split("\n").slice(1)) {
    const dest = line.split("\t")[1];
    if (dest === undefined || dest.length !== 8) continue;
    // Little-endian hex: the first octet is the last byte.
    const octets = [6, 4, 2, 0].map((i) => Number.parseInt(dest.slice(i, i + 2), 16));
    if (octets[0] === 10 && octets[1] === 123) used.add(octets[2] ?? 0);
  }
  const start = randomBytes(1)[0] ?? 0;
  for (let i = 0; i < 250; i++) {
    const n = 1 + ((start + i) % 250);
    if (!used.has(n)) return n;
  }
  throw new Error("every 10.123.N.0/24 test subnet is routed already: remove leftover test bridges (bcri*)");
}

export interface TestNetworkOptions {
  /**
   * false: no `loopback` plugin in the conflist (bridge, host-local and portmap only), as
   * real clusters' conflists are, so the runtime must bring `lo` up itself. Default true.
   */
  loopback?: boolean;
}

export async function createTestNetwork(options: TestNetworkOptions = {}): Promise<TestNetwork> {
  const dir = await tempDir("cni-");
  const confDir = join(dir, "net.d");
  await mkdir(confDir);
  const bridge = `bcri${randomBytes(3).toString("hex")}`;
  const n = await unusedSubnet();
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
      ...(options.loopback === false ? [] : [{ type: "loopback" }]),
    ],
  };
  await writeFile(join(confDir, "10-test.conflist"), JSON.stringify(conflist, null, 2));
  const rules = [
    ["FORWARD", "-i", bridge, "!", "-o", bridge, "-j", "DROP"],
    ["FORWARD", "-o", bridge, "!", "-i", bridge, "-j", "DROP"],
  ];
  for (const r of rules) await iptables(["-I", ...r]);
  // The bridge plugin turns IP forwarding on for a gateway; portmap adds shared nat chains.
  const forwarding = (await readFile(IP_FORWARD, "utf8")).trim();
  const natChainsBefore = await natChains();
  return {
    confDir,
    bridge,
    subnet,
    prefix,
    async cleanup() {
      for (const r of rules) await iptables(["-D", ...r]).catch(() => undefined);
      await execa("ip", ["link", "del", bridge], { reject: false, timeout: 30_000 });
      await removeEmptyPortmapChains(natChainsBefore);
      if (forwarding === "0") await writeFile(IP_FORWARD, "0\n").catch(() => undefined);
      await removeDir(dir);
    },
  };
}
