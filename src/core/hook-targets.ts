// Where setup-hooks puts each file of hooks/ inside a root. The kernel hooks sort before
// Debian's own "dkms" hook in run-parts order, so modules are linked before dkms looks.

export interface HookTarget {
  /** File name in the package's hooks/ directory. */
  readonly source: string;
  /** Absolute path inside the root. */
  readonly target: string;
  readonly mode: number;
}

export const HOOK_TARGETS: readonly HookTarget[] = [
  { source: 'kernel-preinst', target: '/etc/kernel/preinst.d/05dkms-abi', mode: 0o755 },
  { source: 'kernel-postinst', target: '/etc/kernel/postinst.d/05dkms-abi', mode: 0o755 },
  { source: 'kernel-prerm', target: '/etc/kernel/prerm.d/05dkms-abi', mode: 0o755 },
  { source: 'header-postinst', target: '/etc/kernel/header_postinst.d/05dkms-abi', mode: 0o755 },
  { source: 'kernel-install.install', target: '/etc/kernel/install.d/40-dkms-abi.install', mode: 0o755 },
  { source: 'dkms-abi.service', target: '/etc/systemd/system/dkms-abi.service', mode: 0o644 },
  { source: 'depmod.conf', target: '/etc/depmod.d/dkms-abi.conf', mode: 0o644 },
];

/** What `systemctl enable` would create for the boot unit (WantedBy=multi-user.target). */
export const SERVICE_ENABLE_LINK = {
  path: '/etc/systemd/system/multi-user.target.wants/dkms-abi.service',
  target: '/etc/systemd/system/dkms-abi.service',
} as const;
