// The images the CRI validation suite (critest) pulls, built offline from Debian's static
// busybox and pushed to a local registry under the same repository paths, so that the
// runtimes, with registry.k8s.io, gcr.io and k8s.gcr.io mirrored to that registry, pull
// them by their upstream names. Each does what the suite needs of the original: the same
// USER, a web server on the same port, a file that tells images apart, and so on.
import { execa } from "execa";
import {
  BUSYBOX,
  type ImageDefinition,
  type LayerEntry,
  type PushedImage,
  buildImage,
  readBusybox,
} from "../fixtures/images.js";

/** The registries critest's image names point at; pulls from them go to the local registry. */
export const CRITEST_REGISTRY_HOSTS = ["registry.k8s.io", "gcr.io", "k8s.gcr.io"];

/** busybox's own /etc/passwd and /etc/group (the suite runs as `nobody` and reads `www-data`). */
const PASSWD = [
  "root:x:0:0:root:/root:/bin/sh",
  "daemon:x:1:1:daemon:/usr/sbin:/bin/false",
  "bin:x:2:2:bin:/bin:/bin/false",
  "sys:x:3:3:sys:/dev:/bin/false",
  "sync:x:4:100:sync:/bin:/bin/sync",
  "mail:x:8:8:mail:/var/spool/mail:/bin/false",
  "www-data:x:33:33:www-data:/var/www:/bin/false",
  "operator:x:37:37:Operator:/var:/bin/false",
  "nobody:x:65534:65534:nobody:/home:/bin/false",
];
const GROUP = [
  "root:x:0:",
  "daemon:x:1:",
  "bin:x:2:",
  "sys:x:3:",
  "adm:x:4:",
  "tty:x:5:",
  "disk:x:6:",
  "wheel:x:10:root",
  "www-data:x:33:",
  "operator:x:37:",
  "staff:x:50:",
  "users:x:100:",
  "nogroup:x:65534:",
];

const lines = (l: string[]) => `${l.join("\n")}\n`;

let applets: Promise<string[]> | undefined;

/** Every applet of the static busybox (`busybox --list`). */
function busyboxApplets(): Promise<string[]> {
  applets ??= execa(BUSYBOX, ["--list"], { timeout: 10_000 }).then((r) =>
    r.stdout.split("\n").filter((a) => /^[a-z0-9_.[-]+$/i.test(a) && a !== "busybox"),
  );
  return applets;
}

/**
 * The base layer, laid out as the busybox image is: every applet a hard link to
 * /bin/busybox (a masked /bin/ls must hide ls only, which a symlink would not: runc masks
 * the path it resolves to), busybox's users and groups, the usual top-level directories.
 */
async function baseLayer(passwd = PASSWD, group = GROUP, links: string[] = []): Promise<LayerEntry[]> {
  const busybox = await readBusybox();
  const entries: LayerEntry[] = [];
  for (const d of ["bin", "dev", "etc", "home", "proc", "root", "sys", "usr", "usr/sbin", "var", "var/www"])
    entries.push({ type: "dir", path: d, mode: d === "root" ? 0o700 : 0o755 });
  entries.push({ type: "dir", path: "tmp", mode: 0o1777 });
  entries.push({ type: "file", path: "bin/busybox", mode: 0o755, content: busybox });
  for (const path of [...(await busyboxApplets()).map((a) => `bin/${a}`), ...links])
    entries.push({ type: "hardlink", path, target: "bin/busybox", mode: 0o755 });
  entries.push({ type: "file", path: "etc/passwd", mode: 0o644, content: lines(passwd) });
  entries.push({ type: "file", path: "etc/group", mode: 0o644, content: lines(group) });
  return entries;
}

/** A page for a web server to serve from `dir`. */
function pageLayer(dir: string, text: string): LayerEntry[] {
  const parts = dir.split("/").filter(Boolean);
  return [
    ...parts.map((_, i): LayerEntry => ({ type: "dir", path: parts.slice(0, i + 1).join("/"), mode: 0o755 })),
    { type: "file", path: `${parts.join("/")}/index.html`, mode: 0o644, content: `<h1>${text}</h1>\n` },
  ];
}

/**
 * A static x86-64 Linux program that prints "Effective uid: N\n" (N = geteuid()) in one
 * write and exits 0, as the suite's nonewprivs image does from a setuid-root binary: no
 * busybox applet keeps a setuid euid (busybox drops it). 120 bytes of ELF and program
 * headers, then this code (assembled from the listing beside each line):
 */
const NNP_CODE = [
  "b86b000000", //          mov eax, 107          ; geteuid
  "0f05", //                syscall
  "488d7424ff", //          lea rsi, [rsp-1]      ; digits end here, in the red zone
  "c6060a", //              mov byte [rsi], '\n'
  "b90a000000", //          mov ecx, 10
  "31d2", //             1: xor edx, edx
  "f7f1", //                div ecx
  "80c230", //              add dl, '0'
  "48ffce", //              dec rsi
  "8816", //                mov [rsi], dl
  "85c0", //                test eax, eax
  "75f0", //                jnz 1b
  "488d7ef1", //            lea rdi, [rsi-15]     ; the prefix goes before the digits
  "4889e2", //              mov rdx, rsp
  "4829fa", //              sub rdx, rdi          ; length of the whole line
  "4989f8", //              mov r8, rdi
  "488d351f000000", //      lea rsi, [rip+prefix]
  "b90f000000", //          mov ecx, 15
  "f3a4", //                rep movsb
  "b801000000", //          mov eax, 1            ; write(1, r8, rdx)
  "bf01000000", //          mov edi, 1
  "4c89c6", //              mov rsi, r8
  "0f05", //                syscall
  "b83c000000", //          mov eax, 60           ; exit(0)
  "31ff", //                xor edi, edi
  "0f05", //                syscall
].join("");
const NNP_PREFIX = "Effective uid: ";

export function effectiveUidProgram(): Buffer {
  const code = Buffer.concat([Buffer.from(NNP_CODE, "hex"), Buffer.from(NNP_PREFIX)]);
  const base = 0x400000;
  const headers = 64 + 56;
  const elf = Buffer.alloc(headers);
  // ELF header: 64-bit, little-endian, version 1, System V ABI; executable for x86-64.
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).copy(elf, 0);
  elf.writeUInt16LE(2, 16); // ET_EXEC
  elf.writeUInt16LE(0x3e, 18); // EM_X86_64
  elf.writeUInt32LE(1, 20);
  elf.writeBigUInt64LE(BigInt(base + headers), 24); // entry
  elf.writeBigUInt64LE(64n, 32); // program headers right after this header
  elf.writeUInt16LE(64, 52); // header size
  elf.writeUInt16LE(56, 54); // program header size
  elf.writeUInt16LE(1, 56); // one program header
  elf.writeUInt16LE(64, 58); // section header size (no sections)
  // PT_LOAD of the whole file, read + execute.
  elf.writeUInt32LE(1, 64);
  elf.writeUInt32LE(5, 68);
  elf.writeBigUInt64LE(0n, 72); // offset
  elf.writeBigUInt64LE(BigInt(base), 80); // vaddr
  elf.writeBigUInt64LE(BigInt(base), 88); // paddr
  elf.writeBigUInt64LE(BigInt(headers + code.length), 96); // file size
  elf.writeBigUInt64LE(BigInt(headers + code.length), 104); // memory size
  elf.writeBigUInt64LE(0x1000n, 112); // alignment
  return Buffer.concat([elf, code]);
}

interface CritestImage {
  /** Repository path and tags in the local registry (the upstream name without its host). */
  path: string;
  tags: string[];
  image: ImageDefinition;
}

const base = (): Promise<LayerEntry[][]> => baseLayer().then((l) => [l]);

/** An image told apart from the others by a file of its own name in / (as cri-tools' are). */
function marked(kind: string): ImageDefinition {
  return {
    kind: `critest-${kind}`,
    layers: async () => [await baseLayer(), [{ type: "file", path: kind, mode: 0o644, content: "" }]],
  };
}

function withUser(kind: string, user: string): ImageDefinition {
  return { kind: `critest-${kind}`, layers: base, config: { User: user } };
}

/**
 * busybox httpd serving a page from `dir` on `port`, as nginx does for the suite: its
 * process is named nginx (run as /usr/sbin/nginx, a link to busybox, with argv[0] httpd)
 * and writes /var/run/nginx.pid. `banner` is echoed first (the httpd image's log says "httpd").
 */
function webServer(kind: string, dir: string, port: number, banner = ""): ImageDefinition {
  const serve = `exec -a httpd /usr/sbin/nginx -f -p ${port} -h /${dir}`;
  return {
    kind: `critest-${kind}`,
    layers: async () => [
      // The link in busybox's own layer: Berth refuses a hard link to a lower layer's file.
      await baseLayer(PASSWD, GROUP, ["usr/sbin/nginx"]),
      [{ type: "dir", path: "var/run", mode: 0o755 }, ...pageLayer(dir, `${kind} served by busybox httpd`)],
    ],
    config: {
      ExposedPorts: { [`${port}/tcp`]: {} },
      Cmd: ["sh", "-c", `${banner ? `echo '${banner}'; ` : ""}echo $$ > /var/run/nginx.pid; ${serve}`],
    },
  };
}

const CRI_TOOLS = "k8s-staging-cri-tools";

export function critestImages(): CritestImage[] {
  return [
    // framework.DefaultLinuxContainerImage: the suite's plain busybox.
    {
      path: "e2e-test-images/busybox",
      tags: ["1.29-2"],
      image: { kind: "critest-busybox", layers: base },
    },
    // The web server of the networking, port mapping and port-forward specs: a page on :80.
    {
      path: "e2e-test-images/nginx",
      tags: ["1.14-2"],
      image: webServer("nginx", "usr/share/nginx/html", 80),
    },
    // The multi-container specs: a server on :80 whose log says "httpd".
    {
      path: "e2e-test-images/httpd",
      tags: ["2.4.39-4"],
      image: webServer("httpd", "usr/local/apache2/htdocs", 80, "httpd: serving on port 80"),
    },
    // A setuid-root program printing its effective uid (NoNewPrivs specs).
    {
      path: "e2e-test-images/nonewprivs",
      tags: ["1.3"],
      image: {
        kind: "critest-nonewprivs",
        layers: async () => [
          await baseLayer(),
          [
            { type: "dir", path: "usr/local", mode: 0o755 },
            { type: "dir", path: "usr/local/bin", mode: 0o755 },
            { type: "file", path: "usr/local/bin/nnp", mode: 0o4755, content: effectiveUidProgram() },
          ],
        ],
        config: { Entrypoint: ["/usr/local/bin/nnp"], Cmd: null },
      },
    },
    // Host-network port forwarding: the same server on :12003 (cri-tools' hostnet-nginx).
    {
      path: `${CRI_TOOLS}/hostnet-nginx-amd64`,
      tags: ["latest"],
      image: webServer("hostnet-nginx", "usr/share/nginx/html", 12003),
    },
    // Image users (cri-tools' image-user builds).
    { path: `${CRI_TOOLS}/test-image-user-uid`, tags: ["latest"], image: withUser("user-uid", "1002") },
    {
      path: `${CRI_TOOLS}/test-image-user-username`,
      tags: ["latest"],
      image: withUser("user-username", "www-data"),
    },
    {
      path: `${CRI_TOOLS}/test-image-user-uid-group`,
      tags: ["latest"],
      image: withUser("user-uid-group", "1003:1004"),
    },
    {
      path: `${CRI_TOOLS}/test-image-user-username-group`,
      tags: ["latest"],
      image: withUser("user-username-group", "www-data:1004"),
    },
    // A user of uid 1000 in a group (50000) the image defines (SupplementalGroupsPolicy).
    {
      path: `${CRI_TOOLS}/test-image-predefined-group`,
      tags: ["latest"],
      image: {
        kind: "critest-predefined-group",
        layers: async () => [
          await baseLayer(
            [...PASSWD, "default-user:x:1000:1000:Linux User,,,:/home/default-user:/bin/sh"],
            [...GROUP, "default-user:x:1000:", "group-defined-in-image:x:50000:default-user"],
          ),
        ],
        config: { User: "1000" },
      },
    },
    // Different images, and one image under several tags (cri-tools' image-test builds).
    ...["test-image-1", "test-image-2", "test-image-3"].map(
      (n): CritestImage => ({ path: `${CRI_TOOLS}/${n}`, tags: ["latest"], image: marked(n) }),
    ),
    { path: `${CRI_TOOLS}/test-image-latest`, tags: ["latest"], image: marked("test-image-latest") },
    // Two images: a spec wants :test's status to name only :test.
    { path: `${CRI_TOOLS}/test-image-tag`, tags: ["test"], image: marked("test-image-tag-test") },
    { path: `${CRI_TOOLS}/test-image-tag`, tags: ["all"], image: marked("test-image-tag-all") },
    { path: `${CRI_TOOLS}/test-image-tags`, tags: ["1", "2", "3"], image: marked("same-image") },
    // registry.k8s.io/pause:3.9 and k8s.gcr.io/pause:3.9: one image from two registries.
    {
      path: "pause",
      tags: ["3.9"],
      image: {
        kind: "critest-pause",
        layers: base,
        config: { Entrypoint: ["sh", "-c", "trap 'exit 0' TERM; sleep 2147483647 & wait"], Cmd: null },
      },
    },
  ];
}

/** Builds every critest image and pushes it to the registry at `registryHost`. */
export async function pushCritestImages(registryHost: string): Promise<PushedImage[]> {
  const pushed: PushedImage[] = [];
  for (const { path, tags, image } of critestImages())
    for (const tag of tags) pushed.push(await buildImage(registryHost, path, tag, image));
  return pushed;
}
