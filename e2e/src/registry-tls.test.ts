// Registry hosts in containerd's hosts.toml format, over TLS: Debian's docker-registry
// serving HTTPS on 127.0.0.1 with a CA and certificates made here with openssl (one
// instance requiring client certificates), pulled from with berthctl --hosts-dir, with
// ctr --hosts-dir (containerd 1.6's client) on the same directories as the reference,
// and through berth-cri's registry.configPath with crictl. The TLS registries share the
// storage of a plain one the image is pushed to.

import assert from "node:assert/strict";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { berthCriMain, startBerthCri } from "./cri/berth-cri.js";
import { type DaemonUnderTest, startBerthdDaemon } from "./daemons.js";
import { startAuthRegistry } from "./fixtures/auth-registry.js";
import { ctr } from "./fixtures/ctr.js";
import { type PushedImage, buildSimpleImage } from "./fixtures/images.js";
import { peerTool } from "./fixtures/peers.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { freePort, removeDir, tempDir } from "./fixtures/tmp.js";

const BERTHCTL = fileURLToPath(new URL("../../packages/cli/dist/main.js", import.meta.url));
const NAMESPACE = "registry-tls";
/** A registry name that resolves nowhere: only its mirror on 127.0.0.1 can serve it. */
const UPSTREAM = "registry.example:5000";

interface Certs {
  ca: string;
  server: string;
  serverKey: string;
  clientCa: string;
  client: string;
  clientKey: string;
}

async function openssl(cwd: string, args: string[]): Promise<void> {
  const r = await execa("openssl", args, { cwd, reject: false, timeout: 60_000 });
  if (r.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${r.stderr}`);
}

/** A CA and a server certificate for 127.0.0.1 it signs; a second CA and a client certificate it signs. */
async function makeCerts(dir: string): Promise<Certs> {
  const p = (f: string) => join(dir, f);
  const ca = async (name: string, cn: string) =>
    openssl(dir, [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "2",
      "-keyout",
      `${name}-key.pem`,
      "-out",
      `${name}.pem`,
      "-subj",
      `/CN=${cn}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
  const leaf = async (name: string, signer: string, cn: string, ext: string) => {
    await openssl(dir, [
      "req",
      "-new",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${name}-key.pem`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${cn}`,
    ]);
    await writeFile(p(`${name}.ext`), ext);
    await openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${signer}.pem`,
      "-CAkey",
      `${signer}-key.pem`,
      "-CAcreateserial",
      "-days",
      "2",
      "-out",
      `${name}.pem`,
      "-extfile",
      `${name}.ext`,
    ]);
  };
  await ca("ca", "berth e2e registry CA");
  await ca("client-ca", "berth e2e client CA");
  await leaf("server", "ca", "127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  await leaf("client", "client-ca", "berth e2e client", "extendedKeyUsage=clientAuth\n");
  return {
    ca: p("ca.pem"),
    server: p("server.pem"),
    serverKey: p("server-key.pem"),
    clientCa: p("client-ca.pem"),
    client: p("client.pem"),
    clientKey: p("client-key.pem"),
  };
}

describe("registry hosts.toml with TLS", { timeout: 600_000 }, () => {
  let work: string;
  let certs: Certs;
  let plain: Registry;
  let tls: Registry;
  let mtls: Registry;
  let image: PushedImage;
  let daemon: DaemonUnderTest;
  let dirs = 0;

  before(async () => {
    work = await tempDir("registry-tls-");
    certs = await makeCerts(work);
    plain = await startRegistry();
    image = await buildSimpleImage(plain.host, "berth/tls", "v1");
    tls = await startRegistry({ dir: plain.dir, tls: { certificate: certs.server, key: certs.serverKey } });
    mtls = await startRegistry({
      dir: plain.dir,
      tls: { certificate: certs.server, key: certs.serverKey, clientCas: [certs.clientCa] },
    });
    daemon = await startBerthdDaemon();
  });

  after(async () => {
    await daemon?.stop();
    await mtls?.stop();
    await tls?.stop();
    await plain?.stop();
    if (work !== undefined) await removeDir(work);
  });

  /**
   * hosts.toml for a registry reached only at `url`: the settings for the server and for a
   * [host] section of the same URL (containerd 1.6 ignores a hosts.toml without [host]
   * sections, and without `server` would try loopback registries over plain HTTP last).
   */
  const only = (url: string, settings: string) =>
    `server = "${url}"\n${settings}[host."${url}"]\n${settings}`;

  /** A fresh hosts directory: `<host>/hosts.toml` with `toml`, and the named cert files copied beside it. */
  async function hostsDir(host: string, toml: string, files: Record<string, string> = {}): Promise<string> {
    const root = join(work, `hosts-${++dirs}`);
    const dir = join(root, host);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "hosts.toml"), toml);
    for (const [name, from] of Object.entries(files)) await copyFile(from, join(dir, name));
    return root;
  }

  const berthctl = (args: string[]) =>
    execa(process.execPath, [BERTHCTL, "--address", daemon.address, "--namespace", NAMESPACE, ...args], {
      reject: false,
      timeout: 120_000,
    });

  /** berthctl pulls `ref` with `--hosts-dir`; resolves to its result after removing the image again. */
  async function pullBoth(root: string, ref: string) {
    const ours = await berthctl(["--hosts-dir", root, "images", "pull", ref]);
    const ls = await berthctl(["images", "ls", "-q"]);
    await berthctl(["images", "rm", ref]);
    const theirs = await ctr(daemon.address, ["images", "pull", "--hosts-dir", root, ref], {
      namespace: NAMESPACE,
      timeoutMs: 120_000,
    });
    await ctr(daemon.address, ["images", "rm", ref], { namespace: NAMESPACE });
    return { ours, listed: ls.stdout.split("\n").includes(ref), theirs };
  }

  test("a registry whose CA hosts.toml names (relative to the host's directory) is pulled from", async () => {
    const ref = `${tls.host}/berth/tls:v1`;
    const root = await hostsDir(tls.host, only(`https://${tls.host}`, 'ca = "ca.pem"\n'), {
      "ca.pem": certs.ca,
    });
    const r = await pullBoth(root, ref);
    assert.equal(r.ours.exitCode, 0, r.ours.stderr);
    assert.ok(r.listed, "berthctl images ls lists the pulled image");
    assert.equal(r.theirs.exitCode, 0, `ctr pulls with the same hosts dir: ${r.theirs.stderr}`);
    // The top-level keys alone configure the server too (containerd 1.6 ignores such a file).
    const topLevel = await hostsDir(tls.host, `server = "https://${tls.host}"\nca = "ca.pem"\n`, {
      "ca.pem": certs.ca,
    });
    const again = await berthctl(["--hosts-dir", topLevel, "images", "pull", ref]);
    assert.equal(again.exitCode, 0, again.stderr);
    await berthctl(["images", "rm", ref]);
  });

  test("berthctl images push through --hosts-dir: over TLS with its CA, to the first host that may push", async () => {
    const pulled = `${tls.host}/berth/tls:v1`;
    const ca = { "ca.pem": certs.ca };
    const root = await hostsDir(tls.host, only(`https://${tls.host}`, 'ca = "ca.pem"\n'), ca);
    const pull = await berthctl(["--hosts-dir", root, "images", "pull", pulled]);
    assert.equal(pull.exitCode, 0, pull.stderr);
    const pushedRef = `${tls.host}/berth/tls-pushed:v1`;
    const push = await berthctl(["images", "push", "--hosts-dir", root, pushedRef, pulled]);
    assert.equal(push.exitCode, 0, push.stderr);
    // What the registry now serves, read back by ctr through the same hosts directory.
    const back = await ctr(daemon.address, ["images", "pull", "--hosts-dir", root, pushedRef], {
      namespace: `${NAMESPACE}-back`,
      timeoutMs: 120_000,
    });
    assert.equal(back.exitCode, 0, `ctr pulls what berthctl pushed: ${back.stderr}`);
    // Without the CA the push fails on the certificate, and says where to fix it.
    const noCa = await hostsDir(tls.host, only(`https://${tls.host}`, ""));
    const refused = await berthctl(["images", "push", "--hosts-dir", noCa, pushedRef, pulled]);
    assert.notEqual(refused.exitCode, 0);
    assert.match(refused.stderr, /certificate/i);
    // A hosts.toml whose hosts may only pull names what to add.
    const pullOnly = await hostsDir(
      tls.host,
      `server = "https://${tls.host}"\ncapabilities = ["pull", "resolve"]\nca = "ca.pem"\n[host."https://${tls.host}"]\ncapabilities = ["pull", "resolve"]\nca = "ca.pem"\n`,
      ca,
    );
    const none = await berthctl(["images", "push", "--hosts-dir", pullOnly, pushedRef, pulled]);
    assert.notEqual(none.exitCode, 0);
    assert.match(none.stderr, /capabilities = \["push"\]/);
    await berthctl(["images", "rm", pulled]);
  });

  test("without the CA the pull fails, saying to give ca or skip_verify in that hosts.toml", async () => {
    const root = await hostsDir(tls.host, only(`https://${tls.host}`, ""));
    const r = await pullBoth(root, `${tls.host}/berth/tls:v1`);
    assert.equal(r.ours.exitCode, 1);
    assert.match(r.ours.stderr, /certificate that is not trusted/);
    assert.match(
      r.ours.stderr,
      new RegExp(`ca = .* in ${join(root, tls.host, "hosts.toml")}.*skip_verify = true`),
    );
    assert.notEqual(r.theirs.exitCode, 0, "ctr fails as well");
    assert.match(r.theirs.stderr, /x509|certificate/);
  });

  test("skip_verify = true pulls without the CA", async () => {
    const root = await hostsDir(tls.host, only(`https://${tls.host}`, "skip_verify = true\n"));
    const r = await pullBoth(root, `${tls.host}/berth/tls:v1`);
    assert.equal(r.ours.exitCode, 0, r.ours.stderr);
    assert.ok(r.listed);
    assert.equal(r.theirs.exitCode, 0, r.theirs.stderr);
  });

  test("a registry requiring client certificates: pulled with client, refused without", async () => {
    const ref = `${mtls.host}/berth/tls:v1`;
    const withClient = await hostsDir(
      mtls.host,
      only(`https://${mtls.host}`, 'ca = "ca.pem"\nclient = [["client.pem", "client-key.pem"]]\n'),
      { "ca.pem": certs.ca, "client.pem": certs.client, "client-key.pem": certs.clientKey },
    );
    const ok = await pullBoth(withClient, ref);
    assert.equal(ok.ours.exitCode, 0, ok.ours.stderr);
    assert.ok(ok.listed);
    assert.equal(ok.theirs.exitCode, 0, ok.theirs.stderr);

    const without = await hostsDir(mtls.host, only(`https://${mtls.host}`, 'ca = "ca.pem"\n'), {
      "ca.pem": certs.ca,
    });
    const refused = await pullBoth(without, ref);
    assert.equal(refused.ours.exitCode, 1);
    assert.match(refused.ours.stderr, /requires a client certificate/);
    assert.match(refused.ours.stderr, /client = \[\["cert\.pem", "key\.pem"\]\] in .*hosts\.toml/);
    assert.notEqual(refused.theirs.exitCode, 0, "ctr is refused as well");
  });

  test("a TLS mirror serves a registry that resolves nowhere; the image keeps the registry's name", async () => {
    const root = await hostsDir(
      UPSTREAM,
      `[host."https://${tls.host}"]\n  capabilities = ["pull", "resolve"]\n  ca = "ca.pem"\n`,
      { "ca.pem": certs.ca },
    );
    const ref = `${UPSTREAM}/berth/tls:v1`;
    const r = await pullBoth(root, ref);
    assert.equal(r.ours.exitCode, 0, r.ours.stderr);
    assert.ok(r.listed, `${ref} is listed`);
    assert.equal(r.theirs.exitCode, 0, r.theirs.stderr);
  });

  test("a pull-only mirror is not asked to resolve a tag: the registry is, and it is unreachable", async () => {
    const closed = await freePort();
    const root = await hostsDir(
      UPSTREAM,
      `server = "https://127.0.0.1:${closed}"\n[host."https://${tls.host}"]\n  capabilities = ["pull"]\n  ca = "ca.pem"\n`,
      { "ca.pem": certs.ca },
    );
    const byTag = await berthctl(["--hosts-dir", root, "images", "pull", `${UPSTREAM}/berth/tls:v1`]);
    assert.equal(byTag.exitCode, 1);
    assert.match(byTag.stderr, new RegExp(`cannot connect to registry 127\\.0\\.0\\.1:${closed}`));
    // By digest the mirror may serve it.
    const byDigest = await berthctl([
      "--hosts-dir",
      root,
      "images",
      "pull",
      `${UPSTREAM}/berth/tls@${image.manifestDigest}`,
    ]);
    assert.equal(byDigest.exitCode, 0, byDigest.stderr);
    await berthctl(["images", "rm", `${UPSTREAM}/berth/tls@${image.manifestDigest}`]);
  });

  test("a token registry over TLS: the token realm is reached with the same CA", async () => {
    const tokenRegistry = await startAuthRegistry(plain.host, {
      scheme: "bearer",
      username: "tls-user",
      password: "tls-secret",
      tls: { cert: await readFile(certs.server), key: await readFile(certs.serverKey) },
    });
    try {
      const ref = `${tokenRegistry.host}/berth/tls:v1`;
      const root = await hostsDir(
        tokenRegistry.host,
        only(`https://${tokenRegistry.host}`, 'ca = "ca.pem"\n'),
        {
          "ca.pem": certs.ca,
        },
      );
      const creds = join(work, "token-creds.yaml");
      await writeFile(
        creds,
        `auth:\n  "${tokenRegistry.host}": { username: tls-user, password: tls-secret }\n`,
      );
      const r = await berthctl(["images", "pull", "--hosts-dir", root, "--hosts-config", creds, ref]);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.ok(
        tokenRegistry.scopesAsked.includes("repository:berth/tls:pull"),
        tokenRegistry.scopesAsked.join(),
      );
      await berthctl(["images", "rm", ref]);
    } finally {
      await tokenRegistry.stop();
    }
  });

  test("a malformed hosts.toml is an error naming the file and line", async () => {
    const root = await hostsDir(tls.host, `server = "https://${tls.host}"\n[host."https://x"\n`);
    const r = await berthctl(["images", "pull", "--hosts-dir", root, `${tls.host}/berth/tls:v1`]);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, new RegExp(`${join(root, tls.host, "hosts.toml")}:2:\\d+: not valid TOML`));
  });

  describe("berth-cri with registry.configPath, and crictl", () => {
    test("crictl pulls through a TLS mirror; a broken hosts.toml stops berth-cri's start", async () => {
      const root = await hostsDir(
        UPSTREAM,
        `[host."https://${tls.host}"]\n  capabilities = ["pull", "resolve"]\n  ca = "ca.pem"\n`,
        { "ca.pem": certs.ca },
      );
      const cniConfDir = join(work, "cni");
      await mkdir(cniConfDir, { recursive: true });
      const cri = await startBerthCri({
        containerdAddress: daemon.address,
        runtime: "io.containerd.runc.v2",
        cniConfDir,
        sandboxImage: `${UPSTREAM}/berth/tls:v1`,
        config: { registry: { configPath: root } },
      });
      try {
        const crictl = (args: string[]) =>
          execa(
            peerTool("crictl", "v1.37.0"),
            [
              "--runtime-endpoint",
              `unix://${cri.address}`,
              "--image-endpoint",
              `unix://${cri.address}`,
              ...args,
            ],
            {
              reject: false,
              timeout: 120_000,
              env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
              extendEnv: false,
            },
          );
        const pulled = await crictl(["pull", `${UPSTREAM}/berth/tls:v1`]);
        assert.equal(
          pulled.exitCode,
          0,
          `${pulled.stderr}\n--- berth-cri log ---\n${(await cri.log()).slice(-3000)}`,
        );
        assert.match(pulled.stdout, /Image is up to date for sha256:/);
        const images = await crictl(["images"]);
        assert.match(images.stdout, new RegExp(`${UPSTREAM}/berth/tls\\s+v1`));
      } finally {
        await cri.remove();
      }

      // berth-cri checks the hosts directory at start: a broken hosts.toml is its exit message.
      const broken = await hostsDir(UPSTREAM, '[host."https://m"]\n  capabilities = ["pull", "fetch"]\n');
      const configFile = join(work, "cri-broken.yaml");
      await writeFile(configFile, JSON.stringify({ registry: { configPath: broken } }));
      const start = await execa(process.execPath, [berthCriMain, "--config", configFile], {
        reject: false,
        timeout: 60_000,
      });
      assert.equal(start.exitCode, 1);
      assert.match(
        `${start.stdout}${start.stderr}`,
        new RegExp(`registry\\.configPath: ${join(broken, UPSTREAM, "hosts.toml")}:2: .*unknown capability`),
      );
    });
  });
});
