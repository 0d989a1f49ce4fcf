// A kernel's vermagic string (VERMAGIC_STRING, include/linux/vermagic.h), derived from its
// release and config when no module of that kernel is at hand to read it from:
//   UTS_RELEASE " " SMP preempt|preempt_rt mod_unload modversions MODULE_ARCH_VERMAGIC RANDSTRUCT
// e.g. "6.1.0-47-amd64 SMP preempt mod_unload modversions " for Debian 6.1 amd64.
// MODULE_ARCH_VERMAGIC is arch-specific (a CPU family on i386, "aarch64" on arm64, ARM's
// "ARMv7 p2v8 "…); only x86_64, where it is empty, is derived here. A randomised struct
// layout adds a seed hash that only the build tree knows. In those cases there is no
// answer: read an in-tree module of the kernel instead (exact in every case).
import { configEnabled, type KernelConfig } from './verdict-loader.js';

export function vermagicFromConfig(release: string, config: KernelConfig): string | undefined {
  if (!configEnabled(config, 'X86_64')) return undefined;
  if (
    configEnabled(config, 'RANDSTRUCT_FULL') ||
    configEnabled(config, 'RANDSTRUCT_PERFORMANCE') ||
    configEnabled(config, 'GCC_PLUGIN_RANDSTRUCT')
  )
    return undefined;
  let magic = `${release} `;
  if (configEnabled(config, 'SMP')) magic += 'SMP ';
  // 5.16+ names PREEMPT_BUILD (set by PREEMPT and PREEMPT_DYNAMIC); older kernels test PREEMPT.
  if (configEnabled(config, 'PREEMPT_BUILD') || configEnabled(config, 'PREEMPT')) magic += 'preempt ';
  else if (configEnabled(config, 'PREEMPT_RT')) magic += 'preempt_rt ';
  if (configEnabled(config, 'MODULE_UNLOAD')) magic += 'mod_unload ';
  if (configEnabled(config, 'MODVERSIONS')) magic += 'modversions ';
  return magic;
}

/** The release part of a vermagic: its first word. */
export function vermagicRelease(magic: string): string {
  const space = magic.indexOf(' ');
  return space === -1 ? magic : magic.slice(0, space);
}
