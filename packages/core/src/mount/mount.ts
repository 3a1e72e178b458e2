// A mount as containerd's API carries it: what to pass to mount(2) to build a rootfs.
export interface Mount {
  type: string;
  source: string;
  target?: string;
  options: string[];
}
