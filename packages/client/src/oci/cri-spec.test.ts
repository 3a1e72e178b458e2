import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ContainerConfig,
  LinuxContainerResources,
  MountPropagation,
  NamespaceMode,
  PodSandboxConfig,
  SecurityProfile_ProfileType,
} from "@berth/api/cri/runtime/v1/api";
import { isKind } from "../errdefs.js";
import { CAPABILITY_NAMES } from "./capabilities.js";
import {
  type ContainerSpecRequest,
  type ImageConfig,
  type SandboxSpecRequest,
  cgroupsPath,
  cleanPath,
  containerSpec,
  criResources,
  mergeResources,
  processArgs,
  sandboxSpec,
} from "./cri-spec.js";
import type { SpecHost } from "./host.js";
import { syscallVerdict } from "./seccomp.js";
import { type Spec, defaultCapabilities, defaultMaskedPaths, defaultReadonlyPaths } from "./spec.js";
import { userDatabase } from "./user.js";

type ContainerInput = Parameters<typeof ContainerConfig.fromPartial>[0];
type SandboxInput = Parameters<typeof PodSandboxConfig.fromPartial>[0];

/** This node's capabilities: everything but CAP_SYS_RESOURCE, as for root on a host without it. */
const CURRENT_CAPS = CAPABILITY_NAMES.filter((c) => c !== "CAP_SYS_RESOURCE");

/** A node with a shared root mount, one GPU-like device and a seccomp profile file. */
function fakeHost(over: Partial<SpecHost> = {}): SpecHost {
  return {
    devices: (hostPath, containerPath) => [
      { path: containerPath || hostPath, type: "c", major: 195, minor: 0, fileMode: 0o666, uid: 0, gid: 0 },
    ],
    hostDevices: () => [
      { path: "/dev/null", type: "c", major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
      { path: "/dev/sda", type: "b", major: 8, minor: 0, fileMode: 0o660, uid: 0, gid: 6 },
    ],
    prepareMountSource: (p) => p,
    lookupMount: (p) => ({
      mountpoint: p.startsWith("/private") ? "/private" : p.startsWith("/slave") ? "/slave" : "/",
      optional: p.startsWith("/private") ? [] : p.startsWith("/slave") ? ["master:7"] : ["shared:1"],
    }),
    currentCapabilities: () => [...CURRENT_CAPS],
    currentOomScoreAdj: () => 0,
    cgroupV2: () => false,
    swapControllerAvailable: () => true,
    hugetlbControllerAvailable: () => true,
    readFile: (p) => {
      if (p === "/var/lib/kubelet/seccomp/audit.json") {
        return JSON.stringify({ defaultAction: "SCMP_ACT_LOG", syscalls: [] });
      }
      throw new Error(`ENOENT: no such file or directory, open '${p}'`);
    },
    hostname: () => "node-1",
    kernelRelease: () => "6.1.0",
    arch: () => "x64",
    ...over,
  };
}

const podMetadata = { name: "web", namespace: "default", uid: "pod-uid-1", attempt: 0 };

function sandboxConfig(input: SandboxInput = {}): PodSandboxConfig {
  return PodSandboxConfig.fromPartial({
    metadata: podMetadata,
    hostname: "web-0",
    logDirectory: "/var/log/pods/default_web_pod-uid-1",
    ...input,
  });
}

const image: ImageConfig = {
  env: ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"],
  entrypoint: ["/docker-entrypoint.sh"],
  cmd: ["nginx", "-g", "daemon off;"],
  workingDir: "/srv",
  user: "",
};

const db = userDatabase(
  "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nweb:x:33:33::/var/www:/bin/false\n",
  "root:x:0:\nwheel:x:10:root,app\napp:x:1000:\naudio:x:29:app\n",
);

function build(
  input: ContainerInput = {},
  over: Partial<ContainerSpecRequest> = {},
  sandbox: PodSandboxConfig = sandboxConfig(),
): Spec {
  return containerSpec({
    id: "c1",
    sandboxId: "s1",
    config: ContainerConfig.fromPartial({ metadata: { name: "nginx", attempt: 0 }, ...input }),
    sandboxConfig: sandbox,
    imageConfig: image,
    sandboxPid: 4242,
    netnsPath: "/var/run/netns/cni-1",
    cgroupParent: "/kubepods/besteffort/podpod-uid-1",
    hostsPath: "/var/lib/berth-cri/sandboxes/s1/hosts",
    resolvConfPath: "/var/lib/berth-cri/sandboxes/s1/resolv.conf",
    hostnamePath: "/var/lib/berth-cri/sandboxes/s1/hostname",
    shmPath: "/run/berth-cri/sandboxes/s1/shm",
    imageName: "docker.io/library/nginx:1.25",
    passwdLookup: db.passwd,
    groupLookup: db.group,
    host: fakeHost(),
    ...over,
  });
}

function withSecurity(
  sc: NonNullable<NonNullable<ContainerInput>["linux"]>["securityContext"],
): ContainerInput {
  return { linux: { securityContext: sc } };
}

const privilegedPod = sandboxConfig({ linux: { securityContext: { privileged: true } } });
const invalid = (re: RegExp) => (err: Error) => isKind(err, "InvalidArgument") && re.test(err.message);
const mountAt = (spec: Spec, dst: string) => spec.mounts.filter((m) => m.destination === dst);

describe("process args", () => {
  // [command, args, image entrypoint, image cmd, want]
  const cases: Array<[string, string[], string[], string[] | undefined, string[] | undefined, string[]]> = [
    ["command replaces the entrypoint and drops cmd", ["a", "b"], [], ["c", "d"], ["e", "f"], ["a", "b"]],
    ["command and args", ["a", "b"], ["c", "d"], ["x"], ["e", "f"], ["a", "b", "c", "d"]],
    ["command only, image has cmd", ["a", "b"], [], undefined, ["e", "f"], ["a", "b"]],
    ["args replace cmd, entrypoint kept", [], ["c", "d"], ["a", "b"], ["e", "f"], ["a", "b", "c", "d"]],
    ["image entrypoint and cmd", [], [], ["a", "b"], ["e", "f"], ["a", "b", "e", "f"]],
    ["image entrypoint only", [], [], ["a", "b"], undefined, ["a", "b"]],
    ["image cmd only", [], [], undefined, ["e", "f"], ["e", "f"]],
    ["args only", [], ["c", "d"], undefined, undefined, ["c", "d"]],
    ["args over image cmd without entrypoint", [], ["c", "d"], undefined, ["e", "f"], ["c", "d"]],
    ['entrypoint [""] counts as none', [], [], [""], ["e", "f"], ["e", "f"]],
    ['entrypoint [""] with args', [], ["c"], [""], ["e", "f"], ["c"]],
  ];
  for (const [name, command, args, entrypoint, cmd, want] of cases) {
    test(name, () => {
      assert.deepEqual(processArgs({ command, args }, { entrypoint, cmd }), want);
    });
  }
  test("nothing to run is an error", () => {
    assert.throws(() => processArgs({ command: [], args: [] }, {}), invalid(/no command specified/));
    assert.throws(() => processArgs({ command: [], args: [] }, { entrypoint: [""] }), /no command specified/);
  });
  test("the spec carries them", () => {
    assert.deepEqual(build({ args: ["-v"] }).process.args, ["/docker-entrypoint.sh", "-v"]);
  });
});

describe("container spec basics", () => {
  const spec = build({
    envs: [
      { key: "LANG", value: "en_US.UTF-8" },
      { key: "FOO", value: "bar" },
    ],
  });

  test("env: default PATH, HOSTNAME, the image's, then the config's by key", () => {
    assert.deepEqual(spec.process.env, [
      "PATH=/usr/local/bin:/usr/bin:/bin",
      "HOSTNAME=web-0",
      "LANG=en_US.UTF-8",
      "FOO=bar",
    ]);
    const noPath = build({}, { imageConfig: { cmd: ["sh"] } });
    assert.deepEqual(noPath.process.env, [
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "HOSTNAME=web-0",
    ]);
  });

  test("a pod without a hostname gets the node's", () => {
    const s = build({}, {}, sandboxConfig({ hostname: "" }));
    assert.ok(s.process.env?.includes("HOSTNAME=node-1"));
    assert.equal(s.hostname, "node-1");
  });

  test("tty sets terminal and TERM", () => {
    const tty = build({ tty: true, stdin: true });
    assert.equal(tty.process.terminal, true);
    assert.ok(tty.process.env?.includes("TERM=xterm"));
    assert.equal(spec.process.terminal, undefined);
  });

  test("working dir: config, else image, else /", () => {
    assert.equal(spec.process.cwd, "/srv");
    assert.equal(build({ workingDir: "/app" }).process.cwd, "/app");
    assert.equal(build({}, { imageConfig: { cmd: ["sh"] } }).process.cwd, "/");
  });

  test("no rlimits, no seccomp, no apparmor unless asked; new privileges allowed", () => {
    assert.equal(spec.process.rlimits, undefined);
    assert.equal(spec.linux.seccomp, undefined);
    assert.equal(spec.process.apparmorProfile, undefined);
    assert.equal(spec.process.noNewPrivileges, false);
    assert.equal(spec.root.readonly, undefined);
    assert.deepEqual(spec.process.capabilities?.bounding, defaultCapabilities());
    assert.equal(spec.process.capabilities?.ambient, undefined);
  });

  test("annotations", () => {
    assert.deepEqual(spec.annotations, {
      "io.kubernetes.cri.container-type": "container",
      "io.kubernetes.cri.sandbox-id": "s1",
      "io.kubernetes.cri.sandbox-namespace": "default",
      "io.kubernetes.cri.sandbox-uid": "pod-uid-1",
      "io.kubernetes.cri.sandbox-name": "web",
      "io.kubernetes.cri.container-name": "nginx",
      "io.kubernetes.cri.image-name": "docker.io/library/nginx:1.25",
    });
  });

  test("cgroups path under the parent", () => {
    assert.equal(spec.linux.cgroupsPath, "/kubepods/besteffort/podpod-uid-1/c1");
    assert.equal(build({}, { cgroupParent: undefined }).linux.cgroupsPath, "/k8s.io/c1");
    const fromPod = build(
      {},
      { cgroupParent: undefined },
      sandboxConfig({ linux: { cgroupParent: "/kubepods/pod2" } }),
    );
    assert.equal(fromPod.linux.cgroupsPath, "/kubepods/pod2/c1");
    assert.equal(
      cgroupsPath("kubepods.slice/kubepods-pod2.slice", "c1", true),
      "kubepods-pod2.slice:berth:c1",
    );
    // cgroupfs (runc's default, and containerd's): a slice-named parent is a directory too.
    assert.equal(cgroupsPath("system.slice", "c1"), "system.slice/c1");
    assert.equal(
      cgroupsPath("/kubepods.slice/kubepods-pod2.slice", "c1"),
      "/kubepods.slice/kubepods-pod2.slice/c1",
    );
    assert.equal(cleanPath("/a//b/./c/../d/"), "/a/b/d");
  });

  test("a config without metadata is refused", () => {
    assert.throws(
      () => containerSpec({ ...baseRequest(), config: ContainerConfig.fromPartial({ args: ["sh"] }) }),
      invalid(/no metadata/),
    );
  });

  test("the spec is plain JSON", () => {
    assert.deepEqual(JSON.parse(JSON.stringify(spec)), JSON.parse(JSON.stringify(spec)));
    assert.doesNotThrow(() => JSON.stringify(build(withSecurity({ seccomp: { profileType: 0 } }))));
  });
});

function baseRequest(): ContainerSpecRequest {
  return {
    id: "c1",
    sandboxId: "s1",
    config: ContainerConfig.fromPartial({ metadata: { name: "x" } }),
    sandboxConfig: sandboxConfig(),
    imageConfig: image,
    hostsPath: "/h",
    resolvConfPath: "/r",
    hostnamePath: "/n",
    shmPath: "/s",
    imageName: "i",
    host: fakeHost(),
  };
}

describe("user", () => {
  const user = (
    input: ContainerInput,
    img: Partial<ImageConfig> = {},
    over: Partial<ContainerSpecRequest> = {},
  ) => build(input, { imageConfig: { ...image, ...img }, ...over }).process.user;

  test("root by default, with root's group memberships", () => {
    assert.deepEqual(user({}), { uid: 0, gid: 0, additionalGids: [0, 10] });
  });
  test("run_as_user takes the primary group from the image's passwd", () => {
    assert.deepEqual(user(withSecurity({ runAsUser: { value: 1000n } })), {
      uid: 1000,
      gid: 1000,
      additionalGids: [10, 29, 1000],
    });
  });
  test("an unlisted run_as_user runs with gid 0", () => {
    assert.deepEqual(user(withSecurity({ runAsUser: { value: 4242n } })), {
      uid: 4242,
      gid: 0,
      additionalGids: [0],
    });
  });
  test("run_as_group replaces the primary group", () => {
    assert.deepEqual(user(withSecurity({ runAsUser: { value: 1000n }, runAsGroup: { value: 3000n } })), {
      uid: 1000,
      gid: 3000,
      additionalGids: [10, 29, 3000],
    });
  });
  test("run_as_username resolves through passwd", () => {
    assert.deepEqual(user(withSecurity({ runAsUsername: "web" })), {
      uid: 33,
      gid: 33,
      additionalGids: [33],
    });
  });
  test("supplemental groups are added", () => {
    assert.deepEqual(
      user(withSecurity({ runAsUser: { value: 4242n }, supplementalGroups: [5000n, 6000n, 5000n] })),
      {
        uid: 4242,
        gid: 0,
        additionalGids: [0, 5000, 6000],
      },
    );
  });
  test("image users: uid, uid:gid, name, name:group", () => {
    assert.deepEqual(user({}, { user: "1000" }), { uid: 1000, gid: 1000, additionalGids: [10, 29, 1000] });
    assert.deepEqual(user({}, { user: "1000:50" }), { uid: 1000, gid: 50, additionalGids: [10, 29, 50] });
    assert.deepEqual(user({}, { user: "app" }), { uid: 1000, gid: 1000, additionalGids: [10, 29, 1000] });
    assert.deepEqual(user({}, { user: "app:audio" }), { uid: 1000, gid: 29, additionalGids: [10, 29] });
  });
  test("the security context wins over the image", () => {
    assert.deepEqual(user(withSecurity({ runAsUser: { value: 33n } }), { user: "app" }), {
      uid: 33,
      gid: 33,
      additionalGids: [33],
    });
  });
  test("names missing from the image are errors", () => {
    assert.throws(
      () => user({}, { user: "ghost" }),
      invalid(/user "ghost" is not in the image's \/etc\/passwd/),
    );
    assert.throws(() => user(withSecurity({ runAsUsername: "ghost" })), /user "ghost"/);
    assert.throws(() => user({}, { user: "app" }, { passwdLookup: undefined }), /user "app" is not in/);
    assert.throws(
      () => user(withSecurity({ runAsGroup: { value: 5n } })),
      /run_as_group 5 is set without run_as_user/,
    );
  });
  test("numeric users need no passwd lookup", () => {
    assert.deepEqual(user(withSecurity({ runAsUser: { value: 1000n } }), {}, { passwdLookup: undefined }), {
      uid: 1000,
      gid: 0,
      additionalGids: [0],
    });
  });
});

describe("capabilities", () => {
  const caps = (capabilities: { addCapabilities?: string[]; dropCapabilities?: string[] }) =>
    build(withSecurity({ capabilities })).process.capabilities;

  test("add and drop single capabilities, with or without CAP_", () => {
    const c = caps({
      addCapabilities: ["NET_ADMIN", "cap_sys_time"],
      dropCapabilities: ["CHOWN", "CAP_KILL"],
    });
    for (const set of [c?.bounding, c?.effective, c?.permitted]) {
      assert.ok(set?.includes("CAP_NET_ADMIN"));
      assert.ok(set?.includes("CAP_SYS_TIME"));
      assert.equal(set?.includes("CAP_CHOWN"), false);
      assert.equal(set?.includes("CAP_KILL"), false);
      assert.equal(set?.length, 14);
    }
    assert.equal(c?.ambient, undefined);
    assert.equal(c?.inheritable, undefined);
  });
  test("add ALL gives this node's capabilities; then single drops apply", () => {
    assert.deepEqual(caps({ addCapabilities: ["ALL"] })?.bounding, CURRENT_CAPS);
    const c = caps({ addCapabilities: ["all"], dropCapabilities: ["CHOWN"] });
    assert.deepEqual(
      c?.effective,
      CURRENT_CAPS.filter((x) => x !== "CAP_CHOWN"),
    );
  });
  test("drop ALL then add single ones", () => {
    const c = caps({ dropCapabilities: ["ALL"], addCapabilities: ["NET_BIND_SERVICE"] });
    assert.deepEqual(c, {
      bounding: ["CAP_NET_BIND_SERVICE"],
      effective: ["CAP_NET_BIND_SERVICE"],
      permitted: ["CAP_NET_BIND_SERVICE"],
    });
    assert.deepEqual(caps({ dropCapabilities: ["ALL"] })?.bounding, []);
  });
  test("unknown names are refused", () => {
    assert.throws(
      () => caps({ addCapabilities: ["SUPERPOWER"] }),
      invalid(/unknown capability "SUPERPOWER" in add_capabilities/),
    );
  });
  test("RuntimeDefault seccomp follows the final capabilities", () => {
    const spec = build(
      withSecurity({
        capabilities: { addCapabilities: ["SYS_ADMIN"] },
        seccomp: { profileType: SecurityProfile_ProfileType.RuntimeDefault },
      }),
    );
    assert.ok(spec.linux.seccomp);
    assert.equal(syscallVerdict(spec.linux.seccomp, "mount"), "allow");
  });
});

describe("privileged", () => {
  const spec = build(
    withSecurity({ privileged: true, seccomp: { profileType: SecurityProfile_ProfileType.RuntimeDefault } }),
    {},
    privilegedPod,
  );

  test("needs a privileged pod", () => {
    assert.throws(
      () => build(withSecurity({ privileged: true })),
      invalid(/no privileged container allowed in sandbox/),
    );
  });
  test("gets all of this node's capabilities", () => {
    assert.deepEqual(spec.process.capabilities, {
      bounding: CURRENT_CAPS,
      effective: CURRENT_CAPS,
      permitted: CURRENT_CAPS,
    });
  });
  test("sees every host device and may use all devices", () => {
    assert.deepEqual(
      spec.linux.devices?.map((d) => d.path),
      ["/dev/null", "/dev/sda"],
    );
    assert.deepEqual(spec.linux.resources?.devices, [{ allow: true, access: "rwm" }]);
  });
  test("no masked or read-only paths, no seccomp, writable /sys and cgroups", () => {
    assert.equal(spec.linux.maskedPaths, undefined);
    assert.equal(spec.linux.readonlyPaths, undefined);
    assert.equal(spec.linux.seccomp, undefined);
    assert.deepEqual(mountAt(spec, "/sys")[0]?.options, ["nosuid", "noexec", "nodev", "rw"]);
    assert.ok(mountAt(spec, "/sys/fs/cgroup")[0]?.options?.includes("rw"));
  });
  test("unprivileged /sys stays read-only", () => {
    assert.ok(mountAt(build(), "/sys")[0]?.options?.includes("ro"));
  });
});

describe("read-only rootfs and no_new_privs", () => {
  test("readonly_rootfs makes the root and the pod's files read-only", () => {
    const spec = build(withSecurity({ readonlyRootfs: true }));
    assert.equal(spec.root.readonly, true);
    for (const dst of ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname"]) {
      assert.deepEqual(mountAt(spec, dst)[0]?.options, ["rbind", "rprivate", "ro"], dst);
    }
    assert.deepEqual(mountAt(spec, "/dev/shm")[0]?.options, ["rbind", "rprivate", "rw"]);
  });
  test("no_new_privs", () => {
    assert.equal(build(withSecurity({ noNewPrivs: true })).process.noNewPrivileges, true);
  });
});

describe("seccomp", () => {
  const seccompOf = (input: ContainerInput, over: Partial<ContainerSpecRequest> = {}) =>
    build(input, over).linux.seccomp;

  test("RuntimeDefault", () => {
    const p = seccompOf(
      withSecurity({ seccomp: { profileType: SecurityProfile_ProfileType.RuntimeDefault } }),
    );
    assert.equal(p?.defaultAction, "SCMP_ACT_ERRNO");
    assert.ok(p);
    assert.equal(syscallVerdict(p, "read"), "allow");
    assert.equal(syscallVerdict(p, "kexec_load"), "deny");
  });
  test("Unconfined and nothing at all mean no filter", () => {
    assert.equal(
      seccompOf(withSecurity({ seccomp: { profileType: SecurityProfile_ProfileType.Unconfined } })),
      undefined,
    );
    assert.equal(seccompOf({}), undefined);
  });
  test("Localhost reads the profile file", () => {
    const p = seccompOf(
      withSecurity({
        seccomp: {
          profileType: SecurityProfile_ProfileType.Localhost,
          localhostRef: "/var/lib/kubelet/seccomp/audit.json",
        },
      }),
    );
    assert.deepEqual(p, { defaultAction: "SCMP_ACT_LOG", syscalls: [] });
    assert.throws(
      () =>
        seccompOf(
          withSecurity({
            seccomp: { profileType: SecurityProfile_ProfileType.Localhost, localhostRef: "/nope.json" },
          }),
        ),
      invalid(/cannot load seccomp profile "\/nope.json"/),
    );
  });
  test("the deprecated seccomp_profile_path strings", () => {
    for (const path of ["runtime/default", "docker/default"]) {
      assert.equal(
        seccompOf(withSecurity({ seccompProfilePath: path }))?.defaultAction,
        "SCMP_ACT_ERRNO",
        path,
      );
    }
    assert.equal(seccompOf(withSecurity({ seccompProfilePath: "unconfined" })), undefined);
    assert.equal(
      seccompOf(withSecurity({ seccompProfilePath: "localhost//var/lib/kubelet/seccomp/audit.json" }))
        ?.defaultAction,
      "SCMP_ACT_LOG",
    );
    assert.throws(
      () => seccompOf(withSecurity({ seccompProfilePath: "strict" })),
      invalid(/invalid seccomp profile "strict"/),
    );
  });
  test("the field wins over the deprecated string", () => {
    const p = seccompOf(
      withSecurity({
        seccomp: { profileType: SecurityProfile_ProfileType.Unconfined },
        seccompProfilePath: "runtime/default",
      }),
    );
    assert.equal(p, undefined);
  });
  test("the runtime's profile for requests that name none", () => {
    assert.equal(seccompOf({}, { unsetSeccompProfile: "runtime/default" })?.defaultAction, "SCMP_ACT_ERRNO");
  });
  test("a localhost_ref with another type is refused", () => {
    assert.throws(
      () =>
        seccompOf(
          withSecurity({
            seccomp: { profileType: SecurityProfile_ProfileType.RuntimeDefault, localhostRef: "/x" },
          }),
        ),
      invalid(/localhost_ref is set but profile_type is not Localhost/),
    );
  });
});

describe("apparmor (this node has none)", () => {
  test("a profile is refused with a clear error", () => {
    const cases: ContainerInput[] = [
      withSecurity({ apparmor: { profileType: SecurityProfile_ProfileType.RuntimeDefault } }),
      withSecurity({
        apparmor: { profileType: SecurityProfile_ProfileType.Localhost, localhostRef: "k8s-nginx" },
      }),
      withSecurity({ apparmorProfile: "runtime/default" }),
      withSecurity({ apparmorProfile: "localhost/k8s-nginx" }),
    ];
    for (const input of cases) {
      assert.throws(() => build(input), invalid(/apparmor is not available on this host/));
    }
  });
  test("unconfined and nothing are fine", () => {
    assert.doesNotThrow(() =>
      build(withSecurity({ apparmor: { profileType: SecurityProfile_ProfileType.Unconfined } })),
    );
    assert.doesNotThrow(() => build(withSecurity({ apparmorProfile: "unconfined" })));
    assert.equal(build(withSecurity({ apparmorProfile: "" })).process.apparmorProfile, undefined);
  });
});

describe("masked and read-only paths", () => {
  test("defaults when the security context gives none", () => {
    const spec = build();
    assert.deepEqual(spec.linux.maskedPaths, defaultMaskedPaths());
    assert.deepEqual(spec.linux.readonlyPaths, defaultReadonlyPaths());
  });
  test("the security context's lists replace them", () => {
    const spec = build(
      withSecurity({ maskedPaths: ["/proc/kcore"], readonlyPaths: ["/proc/sys", "/proc/bus"] }),
    );
    assert.deepEqual(spec.linux.maskedPaths, ["/proc/kcore"]);
    assert.deepEqual(spec.linux.readonlyPaths, ["/proc/sys", "/proc/bus"]);
  });
});

describe("mounts", () => {
  const mount = (
    containerPath: string,
    hostPath: string,
    extra: { readonly?: boolean; propagation?: MountPropagation } = {},
  ) => ({
    containerPath,
    hostPath,
    ...extra,
  });

  test("the pod's files and /dev/shm are bound from the sandbox", () => {
    const spec = build();
    assert.deepEqual(mountAt(spec, "/etc/hosts"), [
      {
        destination: "/etc/hosts",
        type: "bind",
        source: "/var/lib/berth-cri/sandboxes/s1/hosts",
        options: ["rbind", "rprivate", "rw"],
      },
    ]);
    assert.equal(mountAt(spec, "/etc/resolv.conf")[0]?.source, "/var/lib/berth-cri/sandboxes/s1/resolv.conf");
    assert.equal(mountAt(spec, "/etc/hostname")[0]?.source, "/var/lib/berth-cri/sandboxes/s1/hostname");
    assert.deepEqual(mountAt(spec, "/dev/shm"), [
      {
        destination: "/dev/shm",
        type: "bind",
        source: "/run/berth-cri/sandboxes/s1/shm",
        options: ["rbind", "rprivate", "rw"],
      },
    ]);
    assert.deepEqual(
      spec.mounts.slice(0, 6).map((m) => m.destination),
      ["/proc", "/dev", "/dev/pts", "/dev/mqueue", "/sys", "/sys/fs/cgroup"],
    );
  });

  test("the container's own mounts win over the pod's files", () => {
    const spec = build({ mounts: [mount("/etc/hosts/", "/custom/hosts", { readonly: true })] });
    assert.deepEqual(mountAt(spec, "/etc/hosts/"), [
      {
        destination: "/etc/hosts/",
        type: "bind",
        source: "/custom/hosts",
        options: ["rbind", "rprivate", "ro"],
      },
    ]);
    assert.equal(mountAt(spec, "/etc/hosts").length, 0);
  });

  test("propagation: private, host-to-container (rslave), bidirectional (rshared)", () => {
    const spec = build({
      mounts: [
        mount("/data/a", "/srv/a", { propagation: MountPropagation.PROPAGATION_PRIVATE }),
        mount("/data/b", "/slave/b", { propagation: MountPropagation.PROPAGATION_HOST_TO_CONTAINER }),
      ],
    });
    assert.deepEqual(mountAt(spec, "/data/a")[0]?.options, ["rbind", "rprivate", "rw"]);
    assert.deepEqual(mountAt(spec, "/data/b")[0]?.options, ["rbind", "rslave", "rw"]);
    assert.equal(spec.linux.rootfsPropagation, "rslave");

    const shared = build({
      mounts: [
        mount("/data/c", "/srv/c", {
          propagation: MountPropagation.PROPAGATION_BIDIRECTIONAL,
          readonly: true,
        }),
        mount("/data/b", "/srv/b", { propagation: MountPropagation.PROPAGATION_HOST_TO_CONTAINER }),
      ],
    });
    assert.deepEqual(mountAt(shared, "/data/c")[0]?.options, ["rbind", "rshared", "ro"]);
    assert.equal(shared.linux.rootfsPropagation, "rshared");
    assert.equal(build().linux.rootfsPropagation, undefined);
  });

  test("propagation needs a host mount that propagates", () => {
    assert.throws(
      () =>
        build({
          mounts: [mount("/x", "/private/x", { propagation: MountPropagation.PROPAGATION_BIDIRECTIONAL })],
        }),
      invalid(/path \/private\/x is mounted on \/private but it is not a shared mount/),
    );
    assert.throws(
      () =>
        build({
          mounts: [mount("/x", "/slave/x", { propagation: MountPropagation.PROPAGATION_BIDIRECTIONAL })],
        }),
      /not a shared mount/,
    );
    assert.throws(
      () =>
        build({
          mounts: [
            mount("/x", "/private/x", { propagation: MountPropagation.PROPAGATION_HOST_TO_CONTAINER }),
          ],
        }),
      /not a shared or slave mount/,
    );
  });

  test("shallow mounts come first, so none hides a deeper one", () => {
    const spec = build({ mounts: [mount("/a/b/c", "/h/abc"), mount("/a", "/h/a"), mount("/a/b", "/h/ab")] });
    const binds = spec.mounts.filter((m) => m.type === "bind").map((m) => m.destination);
    assert.deepEqual(binds, [
      "/a",
      "/a/b",
      "/etc/hostname",
      "/etc/hosts",
      "/etc/resolv.conf",
      "/dev/shm",
      "/a/b/c",
    ]);
  });

  test("a container /dev replaces every default mount under /dev", () => {
    const spec = build({ mounts: [mount("/dev", "/host/dev")] });
    assert.deepEqual(
      spec.mounts.filter((m) => m.destination.startsWith("/dev")).map((m) => `${m.destination}:${m.type}`),
      ["/dev:bind", "/dev/shm:bind"],
    );
  });

  test("the sources are prepared on the node", () => {
    const seen: string[] = [];
    const host = fakeHost({
      prepareMountSource: (p) => {
        seen.push(p);
        return p.replace("/link", "/real");
      },
    });
    const spec = build({ mounts: [mount("/data", "/link/data")] }, { host });
    assert.ok(seen.includes("/link/data"));
    assert.equal(mountAt(spec, "/data")[0]?.source, "/real/data");
  });

  test("host IPC uses the node's /dev/shm", () => {
    const pod = sandboxConfig({
      linux: { securityContext: { namespaceOptions: { ipc: NamespaceMode.NODE } } },
    });
    assert.equal(mountAt(build({}, {}, pod), "/dev/shm")[0]?.source, "/dev/shm");
  });

  test("the termination log and image volumes", () => {
    const spec = build(
      { mounts: [mount("/var/cache/nginx", "/kube/cache")] },
      {
        terminationLogPath: "/var/lib/kubelet/pods/pod-uid-1/containers/nginx/abc",
        volumesDir: "/var/lib/berth-cri/containers/c1/volumes",
        imageConfig: { ...image, volumes: { "/data": {}, "/var/cache/nginx": {} } },
      },
    );
    assert.deepEqual(mountAt(spec, "/dev/termination-log")[0], {
      destination: "/dev/termination-log",
      type: "bind",
      source: "/var/lib/kubelet/pods/pod-uid-1/containers/nginx/abc",
      options: ["rbind", "rprivate", "rw"],
    });
    assert.equal(mountAt(spec, "/data")[0]?.source, "/var/lib/berth-cri/containers/c1/volumes/data");
    assert.deepEqual(
      mountAt(spec, "/var/cache/nginx").map((m) => m.source),
      ["/kube/cache"],
    );
    const own = build(
      { mounts: [mount("/dev/termination-log", "/mine")] },
      { terminationLogPath: "/theirs" },
    );
    assert.deepEqual(
      mountAt(own, "/dev/termination-log").map((m) => m.source),
      ["/mine"],
    );
  });

  test("a host path that cannot be prepared is a clear error", () => {
    const host = fakeHost({
      prepareMountSource: () => {
        throw new Error("EACCES: permission denied, mkdir '/ro/data'");
      },
    });
    assert.throws(
      () => build({ mounts: [mount("/data", "/ro/data")] }, { host }),
      invalid(/cannot use host path \/ro\/data for the mount at \/data: EACCES/),
    );
  });

  test("mount paths are checked", () => {
    assert.throws(
      () => build({ mounts: [mount("data", "/h")] }),
      invalid(/container_path "data" is not an absolute path/),
    );
    assert.throws(() => build({ mounts: [mount("/data", "")] }), invalid(/has no host_path/));
  });
});

describe("devices", () => {
  test("config devices become nodes and cgroup rules", () => {
    const spec = build({
      devices: [
        { hostPath: "/dev/nvidia0", containerPath: "/dev/gpu0", permissions: "rw" },
        { hostPath: "/dev/nvidia0", containerPath: "", permissions: "" },
      ],
    });
    assert.deepEqual(spec.linux.devices, [
      { path: "/dev/gpu0", type: "c", major: 195, minor: 0, fileMode: 0o666, uid: 0, gid: 0 },
      { path: "/dev/nvidia0", type: "c", major: 195, minor: 0, fileMode: 0o666, uid: 0, gid: 0 },
    ]);
    const rules = spec.linux.resources?.devices ?? [];
    assert.deepEqual(rules[0], { allow: false, access: "rwm" });
    assert.deepEqual(rules.slice(-2), [
      { allow: true, type: "c", major: 195, minor: 0, access: "rw" },
      { allow: true, type: "c", major: 195, minor: 0, access: "rwm" },
    ]);
  });
  test("bad permissions are refused", () => {
    assert.throws(
      () => build({ devices: [{ hostPath: "/dev/nvidia0", containerPath: "/dev/gpu0", permissions: "rx" }] }),
      invalid(/permissions "rx": use a combination of r, w and m/),
    );
  });
});

describe("namespaces", () => {
  const nsOf = (spec: Spec) =>
    Object.fromEntries(spec.linux.namespaces.map((n) => [n.type, n.path ?? "new"]));
  const withPid = (pid: NamespaceMode, targetId = "") =>
    withSecurity({ namespaceOptions: { pid, targetId } });

  test("pod mode joins the sandbox's namespaces (network through the pinned netns)", () => {
    assert.deepEqual(nsOf(build()), {
      pid: "/proc/4242/ns/pid",
      ipc: "/proc/4242/ns/ipc",
      uts: "/proc/4242/ns/uts",
      mount: "new",
      network: "/var/run/netns/cni-1",
    });
    assert.equal(nsOf(build({}, { netnsPath: "" })).network, "/proc/4242/ns/net");
    assert.equal(build().hostname, "web-0");
  });
  test("container pid mode gets its own PID namespace", () => {
    assert.equal(nsOf(build(withPid(NamespaceMode.CONTAINER))).pid, "new");
  });
  test("node pid mode shares the host's", () => {
    assert.equal(nsOf(build(withPid(NamespaceMode.NODE))).pid, undefined);
  });
  test("target pid mode joins the target container's", () => {
    assert.equal(
      nsOf(build(withPid(NamespaceMode.TARGET, "c0"), { targetPid: 777 })).pid,
      "/proc/777/ns/pid",
    );
    assert.throws(
      () => build(withPid(NamespaceMode.TARGET, "c0")),
      invalid(/TARGET needs the target container's process/),
    );
  });
  test("host network and IPC pods share the host's", () => {
    const pod = sandboxConfig({
      hostname: "",
      linux: {
        securityContext: { namespaceOptions: { network: NamespaceMode.NODE, ipc: NamespaceMode.NODE } },
      },
    });
    const ns = nsOf(build({}, {}, pod));
    assert.deepEqual(ns, { pid: "/proc/4242/ns/pid", mount: "new" });
    assert.equal(build({}, {}, pod).hostname, undefined);
  });
  test("without a sandbox process every namespace is new", () => {
    assert.deepEqual(nsOf(build({}, { sandboxPid: undefined, netnsPath: "" })), {
      pid: "new",
      ipc: "new",
      uts: "new",
      mount: "new",
      network: "new",
    });
  });
  test("a cgroup namespace on cgroup v2, for unprivileged containers", () => {
    assert.equal(nsOf(build()).cgroup, undefined);
    const v2 = fakeHost({ cgroupV2: () => true });
    assert.equal(nsOf(build({}, { host: v2 })).cgroup, "new");
    assert.equal(
      nsOf(build(withSecurity({ privileged: true }), { host: v2 }, privilegedPod)).cgroup,
      undefined,
    );
  });
  test("user namespaces are refused", () => {
    const input = withSecurity({ namespaceOptions: { usernsOptions: { mode: NamespaceMode.POD } } });
    assert.throws(() => build(input), invalid(/user namespaces are not supported/));
    assert.doesNotThrow(() =>
      build(withSecurity({ namespaceOptions: { usernsOptions: { mode: NamespaceMode.NODE } } })),
    );
  });
  test("no sysctls for containers: they belong to the pod", () => {
    const pod = sandboxConfig({ linux: { sysctls: { "net.core.somaxconn": "1024" } } });
    assert.equal(build({}, {}, pod).linux.sysctl, undefined);
  });
});

describe("resources", () => {
  const resources = {
    cpuPeriod: 100000n,
    cpuQuota: 50000n,
    cpuShares: 512n,
    memoryLimitInBytes: 256n * 1024n * 1024n,
    oomScoreAdj: 500n,
    cpusetCpus: "0-1",
    cpusetMems: "0",
    hugepageLimits: [{ pageSize: "2MB", limit: 4194304n }],
    unified: { "memory.high": "200000000" },
  };

  test("cpu, cpuset, memory (swap equal to memory), hugepages, oom_score_adj", () => {
    const spec = build({ linux: { resources } });
    assert.deepEqual(spec.linux.resources?.cpu, {
      period: 100000,
      quota: 50000,
      shares: 512,
      cpus: "0-1",
      mems: "0",
    });
    assert.deepEqual(spec.linux.resources?.memory, { limit: 268435456, swap: 268435456 });
    assert.deepEqual(spec.linux.resources?.hugepageLimits, [{ pageSize: "2MB", limit: 4194304 }]);
    assert.equal(spec.linux.resources?.unified, undefined, "unified is for cgroup v2 only");
    assert.equal(spec.linux.resources?.pids, undefined);
    assert.equal(spec.process.oomScoreAdj, 500);
  });
  test("unset values stay unset; no swap limit without swap accounting", () => {
    const host = fakeHost({ swapControllerAvailable: () => false });
    const spec = build({ linux: { resources: { memoryLimitInBytes: 1048576n } } }, { host });
    assert.deepEqual(spec.linux.resources?.cpu, {});
    assert.deepEqual(spec.linux.resources?.memory, { limit: 1048576 });
    assert.equal(spec.process.oomScoreAdj, 0);
    assert.equal(build().process.oomScoreAdj, undefined);
  });
  test("an explicit swap limit", () => {
    const spec = build({
      linux: { resources: { memoryLimitInBytes: 1048576n, memorySwapLimitInBytes: 2097152n } },
    });
    assert.deepEqual(spec.linux.resources?.memory, { limit: 1048576, swap: 2097152 });
  });
  test("an update merges over the spec: a raised memory limit raises the swap limit with it", () => {
    const created = build({ linux: { resources } }).linux.resources ?? {};
    const update = LinuxContainerResources.fromPartial({ memoryLimitInBytes: 536870912n });
    const merged = mergeResources(created, criResources(update, fakeHost(), true));
    assert.deepEqual(merged.memory, { limit: 536870912, swap: 536870912 });
    assert.deepEqual(merged.cpu, created.cpu, "what the update does not set stays");
    assert.deepEqual(merged.hugepageLimits, created.hugepageLimits);
    const noSwap = criResources(update, fakeHost({ swapControllerAvailable: () => false }), true);
    assert.deepEqual(noSwap, { memory: { limit: 536870912 } });
    assert.throws(
      () => criResources(LinuxContainerResources.fromPartial({ cpuShares: -2n }), fakeHost(), true),
      invalid(/cpu_shares -2 is negative/),
    );
  });
  test("unified on cgroup v2", () => {
    const spec = build({ linux: { resources } }, { host: fakeHost({ cgroupV2: () => true }) });
    assert.deepEqual(spec.linux.resources?.unified, { "memory.high": "200000000" });
  });
  test("hugepages without the hugetlb controller: skipped, or an error when not tolerated", () => {
    const host = fakeHost({ hugetlbControllerAvailable: () => false });
    assert.equal(build({ linux: { resources } }, { host }).linux.resources?.hugepageLimits, undefined);
    assert.throws(
      () => build({ linux: { resources } }, { host, tolerateMissingHugetlbController: false }),
      invalid(/hugetlb cgroup controller is missing/),
    );
  });
  test("oom_score_adj below the runtime's own is raised to it, unless told otherwise", () => {
    const host = fakeHost({ currentOomScoreAdj: () => -500 });
    const low = { linux: { resources: { oomScoreAdj: -999n } } };
    assert.equal(build(low, { host }).process.oomScoreAdj, -500);
    assert.equal(build(low, { host, restrictOomScoreAdj: false }).process.oomScoreAdj, -999);
    assert.equal(build({ linux: { resources: { oomScoreAdj: 1000n } } }, { host }).process.oomScoreAdj, 1000);
  });
  test("invalid values are refused", () => {
    assert.throws(
      () => build({ linux: { resources: { cpuShares: -1n } } }),
      invalid(/cpu_shares -1 is negative/),
    );
    assert.throws(
      () => build({ linux: { resources: { oomScoreAdj: 1001n } } }),
      invalid(/oom_score_adj 1001 is out of range/),
    );
    assert.throws(
      () => build({ linux: { resources: { memoryLimitInBytes: 1n << 62n } } }),
      invalid(/out of range/),
    );
  });
});

describe("sandbox spec", () => {
  const pauseImage: ImageConfig = { entrypoint: ["/pause"], env: ["PATH=/bin"], user: "65535:65535" };
  const request = (config: PodSandboxConfig, over: Partial<SandboxSpecRequest> = {}): SandboxSpecRequest => ({
    id: "s1",
    config,
    imageConfig: pauseImage,
    netnsPath: "/var/run/netns/cni-1",
    cgroupParent: "/kubepods/besteffort/podpod-uid-1",
    resolvConfPath: "/var/lib/berth-cri/sandboxes/s1/resolv.conf",
    shmPath: "/run/berth-cri/sandboxes/s1/shm",
    host: fakeHost(),
    ...over,
  });
  const spec = sandboxSpec(request(sandboxConfig({ linux: { sysctls: { "net.ipv4.ip_forward": "1" } } })));

  test("the pause process", () => {
    assert.deepEqual(spec.process.args, ["/pause"]);
    assert.deepEqual(spec.process.env, ["PATH=/bin"]);
    assert.deepEqual(spec.process.user, { uid: 65535, gid: 65535, additionalGids: [65535] });
    assert.equal(spec.process.noNewPrivileges, true);
    assert.equal(spec.process.rlimits, undefined);
    assert.equal(spec.root.readonly, true);
    assert.equal(spec.hostname, "web-0");
    assert.deepEqual(sandboxSpec(request(sandboxConfig(), { pauseArgs: ["/pause", "-v"] })).process.args, [
      "/pause",
      "-v",
    ]);
    assert.throws(
      () => sandboxSpec(request(sandboxConfig(), { imageConfig: {} })),
      invalid(/neither entrypoint nor cmd/),
    );
  });

  test("namespaces: the pinned netns, new ipc, uts and pid", () => {
    assert.deepEqual(spec.linux.namespaces, [
      { type: "pid" },
      { type: "ipc" },
      { type: "uts" },
      { type: "mount" },
      { type: "network", path: "/var/run/netns/cni-1" },
    ]);
    const hostAll = sandboxSpec(
      request(
        sandboxConfig({
          hostname: "",
          linux: {
            securityContext: {
              namespaceOptions: {
                network: NamespaceMode.NODE,
                pid: NamespaceMode.NODE,
                ipc: NamespaceMode.NODE,
              },
            },
          },
        }),
      ),
    );
    assert.deepEqual(hostAll.linux.namespaces, [{ type: "mount" }]);
    assert.equal(hostAll.hostname, undefined);
    assert.equal(hostAll.mounts.find((m) => m.destination === "/dev/shm")?.source, "/dev/shm");
    const fresh = sandboxSpec(request(sandboxConfig(), { netnsPath: "" }));
    assert.deepEqual(
      fresh.linux.namespaces.find((n) => n.type === "network"),
      { type: "network" },
    );
  });

  test("mounts: the pod's /dev/shm and resolv.conf read-only", () => {
    assert.deepEqual(
      spec.mounts.filter((m) => m.type === "bind"),
      [
        {
          destination: "/dev/shm",
          type: "bind",
          source: "/run/berth-cri/sandboxes/s1/shm",
          options: ["rbind", "ro"],
        },
        {
          destination: "/etc/resolv.conf",
          type: "bind",
          source: "/var/lib/berth-cri/sandboxes/s1/resolv.conf",
          options: ["rbind", "ro"],
        },
      ],
    );
    assert.equal(spec.mounts.filter((m) => m.destination === "/dev/shm").length, 1);
    const withFiles = sandboxSpec(
      request(sandboxConfig(), { hostsPath: "/h/hosts", hostnamePath: "/h/hostname" }),
    );
    assert.equal(withFiles.mounts.find((m) => m.destination === "/etc/hosts")?.source, "/h/hosts");
    assert.equal(withFiles.mounts.find((m) => m.destination === "/etc/hostname")?.source, "/h/hostname");
  });

  test("cgroup, cpu shares, sysctls, oom_score_adj", () => {
    assert.equal(spec.linux.cgroupsPath, "/kubepods/besteffort/podpod-uid-1/s1");
    assert.deepEqual(spec.linux.resources?.cpu, { shares: 2 });
    assert.deepEqual(spec.linux.sysctl, { "net.ipv4.ip_forward": "1" });
    // This process's own score is 0 in the fake node: -998 cannot be asked for.
    assert.equal(spec.process.oomScoreAdj, 0);
    const unrestricted = sandboxSpec(request(sandboxConfig(), { restrictOomScoreAdj: false }));
    assert.equal(unrestricted.process.oomScoreAdj, -998);
    const lowOwn = sandboxSpec(
      request(sandboxConfig(), { host: fakeHost({ currentOomScoreAdj: () => -999 }) }),
    );
    assert.equal(lowOwn.process.oomScoreAdj, -998);
  });

  test("annotations", () => {
    assert.deepEqual(spec.annotations, {
      "io.kubernetes.cri.container-type": "sandbox",
      "io.kubernetes.cri.sandbox-id": "s1",
      "io.kubernetes.cri.sandbox-name": "web",
      "io.kubernetes.cri.sandbox-namespace": "default",
      "io.kubernetes.cri.sandbox-uid": "pod-uid-1",
      "io.kubernetes.cri.sandbox-log-directory": "/var/log/pods/default_web_pod-uid-1",
    });
    const withRes = sandboxSpec(
      request(sandboxConfig({ linux: { resources: { cpuShares: 1024n, memoryLimitInBytes: 5n } } })),
    );
    assert.equal(withRes.annotations?.["io.kubernetes.cri.sandbox-cpu-shares"], "1024");
    assert.equal(withRes.annotations?.["io.kubernetes.cri.sandbox-memory"], "5");
  });

  test("security context: run_as_user, seccomp, privileged", () => {
    const sc = (securityContext: NonNullable<NonNullable<SandboxInput>["linux"]>["securityContext"]) =>
      sandboxSpec(request(sandboxConfig({ linux: { securityContext } })));
    assert.deepEqual(sc({ runAsUser: { value: 1000n }, supplementalGroups: [3n] }).process.user, {
      uid: 1000,
      gid: 0,
      additionalGids: [0, 3],
    });
    const confined = sc({ seccomp: { profileType: SecurityProfile_ProfileType.RuntimeDefault } });
    assert.equal(confined.linux.seccomp?.defaultAction, "SCMP_ACT_ERRNO");
    assert.equal(
      sc({ seccompProfilePath: "runtime/default" }).linux.seccomp?.defaultAction,
      "SCMP_ACT_ERRNO",
    );
    assert.equal(
      sc({ privileged: true, seccomp: { profileType: SecurityProfile_ProfileType.RuntimeDefault } }).linux
        .seccomp,
      undefined,
    );
    assert.equal(spec.linux.seccomp, undefined);
    assert.throws(
      () => sc({ apparmor: { profileType: SecurityProfile_ProfileType.RuntimeDefault } }),
      invalid(/apparmor is not available/),
    );
  });
});
