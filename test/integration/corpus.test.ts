// Issue 12, item 7: real Debian DKMS packages through dkms-abi's whole life cycle, next to
// stock dkms on the same trees. The quick ones (a few seconds of build each) run here, in
// `npm test`; jool, iptables-netflow and dahdi (minutes) in test/corpus/ (`npm run test:corpus`).
import { describeLifecycle } from '../helpers/corpus.js';

// Three modules; thinkpad_ec's exports are used by tp_smapi and hdaps, which dkms-abi builds
// and judges against thinkpad_ec's own Module.symvers.
describeLifecycle({
  deb: 'tp-smapi-dkms',
  module: 'tp_smapi',
  kos: ['thinkpad_ec', 'tp_smapi', 'hdaps'],
  dependsWithin: { tp_smapi: ['thinkpad_ec'], hdaps: ['thinkpad_ec'] },
});

// BUILD_EXCLUSIVE_CONFIG="CONFIG_ACPI": Debian's amd64 kernels have it, so dkms builds.
describeLifecycle({ deb: 'acpi-call-dkms', module: 'acpi-call', kos: ['acpi_call'] });

// A plain single-module package installed under /kernel/drivers/acpi by stock dkms.
describeLifecycle({ deb: 'bbswitch-dkms', module: 'bbswitch', kos: ['bbswitch'] });
