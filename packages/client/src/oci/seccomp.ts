// Seccomp profiles: the runtime's default (Kubernetes' RuntimeDefault, which behaves as
// containerd's and Docker's default profile: an allow-list where everything else fails
// with EPERM), and profiles read from files on the node (Localhost).

import { errorMessage, invalidArgument } from "../errdefs.js";
import { type SpecHost, nodeHost } from "./host.js";
import type { LinuxSeccomp, LinuxSeccompArg, LinuxSyscall } from "./spec.js";

const ENOSYS = 38;

/** Whitespace-separated names as a list: the tables below read like the man pages' index. */
function names(text: string): string[] {
  return text.split(/\s+/).filter((n) => n !== "");
}

// Allowed whatever the container's capabilities: ordinary process, file, memory, signal,
// socket, IPC and timer calls, plus their 32-bit and time64 variants.
const ALWAYS_ALLOWED = names(`
  accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32
  clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
  clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat
  dup dup2 dup3
  epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old
  eventfd eventfd2 execve execveat exit exit_group
  faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat
  fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr
  fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64
  futex futex_time64 futex_waitv futimesat
  getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32
  getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority
  getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage
  getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr
  inotify_add_watch inotify_init inotify_init1 inotify_rm_watch
  io_cancel ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get
  ioprio_set io_setup io_submit io_uring_enter io_uring_register io_uring_setup ipc
  kill landlock_add_rule landlock_create_ruleset landlock_restrict_self
  lchown lchown32 lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr
  lseek lsetxattr lstat lstat64
  madvise membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat
  mlock mlock2 mlockall mmap mmap2 mprotect
  mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
  mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
  nanosleep newfstatat _newselect open openat openat2
  pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll
  ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64
  pwrite64 pwritev pwritev2
  read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg
  remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq
  rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
  rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo
  sched_getaffinity sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min
  sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity
  sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select
  semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto
  setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer
  setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32
  setreuid setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area
  set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack
  signalfd signalfd4 sigprocmask sigreturn socket socketcall socketpair splice stat stat64
  statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo
  tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64
  timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64
  timerfd_settime timerfd_settime64 times tkill truncate truncate64
  ugetrlimit umask uname unlink unlinkat utime utimensat utimensat_time64 utimes
  vfork vmsplice wait4 waitid waitpid write writev
`);

// personality(2) only with the personas programs commonly switch to: PER_LINUX,
// PER_LINUX32, UNAME26 and both combined, and 0xffffffff (query the current one).
const ALLOWED_PERSONAS = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

// Extra calls on some architectures (keyed by Node's process.arch).
const ARCH_ALLOWED: Readonly<Record<string, string[]>> = {
  x64: names("arch_prctl modify_ldt"),
  ia32: names("modify_ldt"),
  arm: names("arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls"),
  arm64: names("arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls"),
  ppc64: names("sync_file_range2 swapcontext"),
  s390x: names("s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr"),
  riscv64: names("riscv_flush_icache"),
};

// Calls a container may make only when it holds the capability that guards them in the kernel.
const CAPABILITY_ALLOWED: ReadonlyArray<readonly [capability: string, syscalls: string[]]> = [
  ["CAP_DAC_READ_SEARCH", names("open_by_handle_at")],
  [
    "CAP_SYS_ADMIN",
    names(`
      bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount
      mount_setattr move_mount name_to_handle_at open_tree perf_event_open quotactl quotactl_fd
      setdomainname sethostname setns syslog umount umount2 unshare
    `),
  ],
  ["CAP_SYS_BOOT", names("reboot")],
  ["CAP_SYS_CHROOT", names("chroot")],
  ["CAP_SYS_MODULE", names("delete_module init_module finit_module")],
  ["CAP_SYS_PACCT", names("acct")],
  ["CAP_SYS_PTRACE", names("kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace")],
  ["CAP_SYS_RAWIO", names("iopl ioperm")],
  ["CAP_SYS_TIME", names("settimeofday stime clock_settime clock_settime64")],
  ["CAP_SYS_TTY_CONFIG", names("vhangup")],
  ["CAP_SYS_NICE", names("get_mempolicy mbind set_mempolicy")],
  ["CAP_SYSLOG", names("syslog")],
  ["CAP_BPF", names("bpf")],
  ["CAP_PERFMON", names("perf_event_open")],
];

// Seccomp architecture lists per Node architecture: the native one and the compat ABIs.
const ARCHITECTURES: Readonly<Record<string, string[]>> = {
  x64: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  arm64: ["SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64"],
  s390x: ["SCMP_ARCH_S390", "SCMP_ARCH_S390X"],
  riscv64: ["SCMP_ARCH_RISCV64"],
};

// clone(2) flags that create namespaces: without CAP_SYS_ADMIN, clone is allowed only when
// none of them is set.
const CLONE_NAMESPACE_FLAGS =
  0x00020000 | // CLONE_NEWNS
  0x04000000 | // CLONE_NEWUTS
  0x08000000 | // CLONE_NEWIPC
  0x10000000 | // CLONE_NEWUSER
  0x20000000 | // CLONE_NEWPID
  0x40000000 | // CLONE_NEWNET
  0x02000000; // CLONE_NEWCGROUP

/** ptrace(2) is safe for unprivileged containers from Linux 4.8 on (it no longer bypasses seccomp). */
const PTRACE_SAFE_KERNEL: readonly [number, number] = [4, 8];

export interface DefaultProfileOptions {
  /** Node's architecture name; the host's by default. */
  arch?: string;
  /** The kernel release (uname -r); the host's by default. */
  kernelRelease?: string;
}

function kernelAtLeast(release: string, [major, minor]: readonly [number, number]): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (m === null) return false;
  const [kMajor, kMinor] = [Number(m[1]), Number(m[2])];
  return kMajor > major || (kMajor === major && kMinor >= minor);
}

function allow(syscalls: string[], args?: LinuxSeccompArg[]): LinuxSyscall {
  return { names: syscalls, action: "SCMP_ACT_ALLOW", args: args ?? [] };
}

/**
 * The RuntimeDefault profile for a container whose bounding set is `capabilities`: the
 * common calls, the architecture's own, those its capabilities unlock, personality and
 * clone restricted by argument, and clone3 failing with ENOSYS (so that libcs fall back to
 * clone) unless the container holds CAP_SYS_ADMIN. ptrace is allowed with CAP_SYS_PTRACE,
 * and to everyone on kernels from 4.8 on, as containerd does.
 */
export function defaultSeccompProfile(
  capabilities: readonly string[],
  options: DefaultProfileOptions = {},
): LinuxSeccomp {
  const arch = options.arch ?? nodeHost.arch();
  const kernel = options.kernelRelease ?? nodeHost.kernelRelease();
  const caps = new Set(capabilities);
  const syscalls: LinuxSyscall[] = [allow([...ALWAYS_ALLOWED])];
  for (const persona of ALLOWED_PERSONAS) {
    syscalls.push(allow(["personality"], [{ index: 0, value: persona, op: "SCMP_CMP_EQ" }]));
  }
  if (kernelAtLeast(kernel, PTRACE_SAFE_KERNEL)) syscalls.push(allow(["ptrace"]));
  const archCalls = ARCH_ALLOWED[arch];
  if (archCalls !== undefined) syscalls.push(allow([...archCalls]));
  for (const [cap, calls] of CAPABILITY_ALLOWED) if (caps.has(cap)) syscalls.push(allow([...calls]));
  if (!caps.has("CAP_SYS_ADMIN")) {
    // On s390 the flags are clone's second argument.
    const index = arch === "s390x" ? 1 : 0;
    syscalls.push(
      allow(["clone"], [{ index, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }]),
    );
    syscalls.push({ names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS });
  }
  return {
    defaultAction: "SCMP_ACT_ERRNO",
    architectures: [...(ARCHITECTURES[arch] ?? [])],
    syscalls,
  };
}

/**
 * What a profile does with one call, for tests and diagnostics: "allow" when a rule with no
 * argument conditions allows it, "conditional" when only rules with conditions do, else the
 * default action's verdict ("deny").
 */
export function syscallVerdict(profile: LinuxSeccomp, name: string): "allow" | "conditional" | "deny" {
  let conditional = false;
  for (const rule of profile.syscalls ?? []) {
    if (!rule.names.includes(name) || rule.action !== "SCMP_ACT_ALLOW") continue;
    if ((rule.args ?? []).length === 0) return "allow";
    conditional = true;
  }
  if (conditional) return "conditional";
  return profile.defaultAction === "SCMP_ACT_ALLOW" ? "allow" : "deny";
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === "string");
}

function parseArg(v: unknown, where: string): LinuxSeccompArg {
  if (
    !isRecord(v) ||
    typeof v.index !== "number" ||
    typeof v.value !== "number" ||
    typeof v.op !== "string"
  ) {
    throw new Error(`${where}: an argument needs a numeric "index" and "value" and a string "op"`);
  }
  const arg: LinuxSeccompArg = { index: v.index, value: v.value, op: v.op };
  if (typeof v.valueTwo === "number") arg.valueTwo = v.valueTwo;
  return arg;
}

function parseSyscall(v: unknown, i: number): LinuxSyscall {
  const where = `syscalls[${i}]`;
  if (!isRecord(v)) throw new Error(`${where} is not an object`);
  if (!isStringArray(v.names) || typeof v.action !== "string") {
    throw new Error(`${where} needs "names" (a list of syscall names) and "action" (such as SCMP_ACT_ALLOW)`);
  }
  const rule: LinuxSyscall = { names: v.names, action: v.action };
  if (typeof v.errnoRet === "number") rule.errnoRet = v.errnoRet;
  if (v.args !== undefined && v.args !== null) {
    if (!Array.isArray(v.args)) throw new Error(`${where}.args is not a list`);
    rule.args = v.args.map((a, j) => parseArg(a, `${where}.args[${j}]`));
  }
  return rule;
}

/** A seccomp profile in the runtime-spec's JSON form (unknown fields are ignored, as runc's reader does). */
export function parseSeccompProfile(text: string): LinuxSeccomp {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`not JSON: ${errorMessage(err)}`);
  }
  if (!isRecord(raw)) throw new Error("the profile is not a JSON object");
  if (typeof raw.defaultAction !== "string") {
    throw new Error('"defaultAction" is missing: a profile needs one, such as SCMP_ACT_ERRNO');
  }
  const profile: LinuxSeccomp = { defaultAction: raw.defaultAction };
  if (typeof raw.defaultErrnoRet === "number") profile.defaultErrnoRet = raw.defaultErrnoRet;
  if (raw.architectures !== undefined && raw.architectures !== null) {
    if (!isStringArray(raw.architectures)) throw new Error('"architectures" is not a list of names');
    profile.architectures = raw.architectures;
  }
  if (raw.flags !== undefined && raw.flags !== null) {
    if (!isStringArray(raw.flags)) throw new Error('"flags" is not a list of names');
    profile.flags = raw.flags;
  }
  if (typeof raw.listenerPath === "string") profile.listenerPath = raw.listenerPath;
  if (typeof raw.listenerMetadata === "string") profile.listenerMetadata = raw.listenerMetadata;
  if (raw.syscalls !== undefined && raw.syscalls !== null) {
    if (!Array.isArray(raw.syscalls)) throw new Error('"syscalls" is not a list');
    profile.syscalls = raw.syscalls.map(parseSyscall);
  }
  return profile;
}

/** The profile in a JSON file on the node (a Localhost profile); `path` must be absolute. */
export function loadLocalhostProfile(
  path: string,
  host: Pick<SpecHost, "readFile"> = nodeHost,
): LinuxSeccomp {
  if (!path.startsWith("/")) {
    throw invalidArgument(
      `seccomp profile ${JSON.stringify(path)} is not an absolute path: localhost profiles name a file on the node`,
    );
  }
  let text: string;
  try {
    text = host.readFile(path);
  } catch (err) {
    throw invalidArgument(`cannot load seccomp profile ${JSON.stringify(path)}: ${errorMessage(err)}`);
  }
  try {
    return parseSeccompProfile(text);
  } catch (err) {
    throw invalidArgument(`seccomp profile ${JSON.stringify(path)} is invalid: ${errorMessage(err)}`);
  }
}
