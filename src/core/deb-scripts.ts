// The maintainer scripts of a module package: a few POSIX sh lines that hand the work to
// dkms-abi (policy §6; "hooks stay dumb"). DPKG_ROOT is set by dpkg to the --root it runs
// with (empty for "/"), so `dpkg --root=DIR --force-script-chrootless` installs into DIR.
// The payload path is inside the root; dkms-abi resolves it there.
import { payloadDir } from './deb-names.js';

export interface MaintainerScript {
  readonly name: 'postinst' | 'prerm';
  readonly text: string;
}

export function maintainerScripts(packageName: string): MaintainerScript[] {
  const dir = payloadDir(packageName);
  const postinst = `#!/bin/sh
# postinst of ${packageName}, written by dkms-abi package: puts the modules into the
# shared ABI tree for every installed kernel of that ABI whose verdict accepts them.
set -e

case "$1" in
configure | abort-upgrade | abort-remove | abort-deconfigure)
	dkms-abi --root "\${DPKG_ROOT:-/}" package-install ${dir}
	;;
esac

exit 0
`;
  // A prerm that fails makes a package impossible to remove: without dkms-abi there is
  // nothing this script could do, so it says so and lets the removal go on.
  const prerm = `#!/bin/sh
# prerm of ${packageName}, written by dkms-abi package: takes the modules out of the
# shared ABI tree again, undoing exactly what the postinst did.
set -e

case "$1" in
remove | upgrade | deconfigure)
	if command -v dkms-abi >/dev/null 2>&1; then
		dkms-abi --root "\${DPKG_ROOT:-/}" package-remove ${packageName}
	else
		echo "${packageName}: dkms-abi is missing; the modules stay in their ABI tree" >&2
	fi
	;;
esac

exit 0
`;
  return [
    { name: 'postinst', text: postinst },
    { name: 'prerm', text: prerm },
  ];
}
