// Kernel module file names as kmod accepts them: <name>.ko, or compressed as <name>.ko.gz,
// .ko.xz or .ko.zst. The one place that knows the suffixes.

const MODULE_SUFFIX = /\.ko(?:\.(?:gz|xz|zst))?$/;

/** "hello_abi.ko.xz" → true; "Module.symvers", "hello.o" → false. */
export function isModuleFile(name: string): boolean {
  return MODULE_SUFFIX.test(name);
}

/** A build of `destName` as dkms saves it: "hello.ko", "hello.ko.xz" (compressed or not). */
export function isModuleFileOf(name: string, destName: string): boolean {
  return name === `${destName}.ko` || name.startsWith(`${destName}.ko.`);
}

/** "dkms/misc/hello_abi.ko.xz" → "dkms/misc/hello_abi": the module path Module.symvers names. */
export function withoutModuleSuffix(file: string): string {
  const m = MODULE_SUFFIX.exec(file.slice(file.lastIndexOf('/') + 1));
  return m === null ? file : file.slice(0, file.length - m[0].length);
}

/** "dkms/misc/hello_abi.ko.xz" → "hello_abi": the file name depmod indexes a module by. */
export function moduleFileStem(file: string): string {
  const p = withoutModuleSuffix(file);
  return p.slice(p.lastIndexOf('/') + 1);
}

/** The kernel's name for a module path: "fs/jbd2/jbd2" → "jbd2", ".../abi-provider.ko" → "abi_provider". */
export function moduleNameOf(modulePath: string): string {
  return moduleFileStem(modulePath).replaceAll('-', '_');
}
