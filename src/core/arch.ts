// DKMS names architectures as `uname -m` does; Node names them its own way.
const NODE_TO_UNAME: Readonly<Record<string, string>> = {
  x64: 'x86_64',
  ia32: 'i686',
  arm64: 'aarch64',
  arm: 'armv7l',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loongarch64',
};

export function unameArch(nodeArch: string): string {
  return NODE_TO_UNAME[nodeArch] ?? nodeArch;
}
