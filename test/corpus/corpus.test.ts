// Issue 12, item 7, the slow part: real Debian DKMS packages whose builds take minutes, through
// the same life cycle as test/integration/corpus.test.ts (`npm run test:corpus`; .ci/run runs it).
import os from 'node:os';
import { expect } from 'vitest';
import { runCliJson } from '../helpers/cli.js';
import { B, describeLifecycle, type CorpusRun } from '../helpers/corpus.js';

const ARCH = os.machine();

// Three modules with exports between them: jool (NAT64) and jool_siit use jool_common's.
describeLifecycle({
  deb: 'jool-dkms',
  module: 'jool-dkms',
  kos: ['jool_common', 'jool', 'jool_siit'],
  dependsWithin: { jool: ['jool_common'], jool_siit: ['jool_common'] },
});

// PRE_BUILD="./configure --from-dkms-conf=$kernel_source_dir …": a script dkms runs in the
// build directory before make (it needs libxtables-dev and pkg-config, see setup-system.sh).
describeLifecycle({ deb: 'iptables-netflow-dkms', module: 'ipt-netflow', kos: ['ipt_NETFLOW'] });

// 32 modules, BUILD_EXCLUSIVE_KERNEL and _CONFIG, and one module that cannot load on Debian's
// kernels: dahdi_echocan_oslec imports oslec_create, which they do not export. Stock dkms
// installs all 32 (31 load); dkms-abi must install the same and say which one will not load.
const DAHDI_KOS = [
  'dahdi_dummy',
  'dahdi_dynamic_eth',
  'dahdi_dynamic',
  'dahdi_dynamic_loc',
  'dahdi_echocan_jpah',
  'dahdi_echocan_kb1',
  'dahdi_echocan_mg2',
  'dahdi_echocan_sec2',
  'dahdi_echocan_sec',
  'dahdi',
  'dahdi_transcode',
  'pciradio',
  'tor2',
  'wcb4xxp',
  'wcfxo',
  'wct1xxp',
  'wct4xxp',
  'wctc4xxp',
  'wctdm',
  'wctdm24xxp',
  'wcte11xp',
  'wcte12xp',
  'xpd_fxo',
  'xpd_fxs',
  'xpd_pri',
  'xpp',
  'xpp_usb',
  'xpd_bri',
  'dahdi_voicebus',
  'opvxa1200',
  'dahdi_echocan_oslec',
  'oct612x',
];

interface StatusJson {
  entries: { module: string; kernel: string; state: string; builtFor: string; reason: string | null }[];
}

/** installed (or installed-abi from A), with a detail naming the module that will not load and why. */
async function dahdiStatus(run: CorpusRun, kernel: string): Promise<void> {
  const text = await run.cli('status', run.mv, '-k', kernel);
  const state = kernel === B ? /installed(-abi)?/ : /installed/;
  expect(text.stdout).toMatch(
    new RegExp(
      `^${run.mv}, ${kernel}, ${ARCH}: ${state.source} \\(.*dahdi_echocan_oslec.*oslec_create.*\\)\\n$`,
    ),
  );
  const json = await runCliJson<StatusJson>(['status', run.mv, '-k', kernel], { root: run.sb.root });
  expect(json.json.entries).toHaveLength(1);
  const entry = json.json.entries[0];
  expect(entry?.state).toMatch(new RegExp(`^${state.source}$`));
  expect(entry?.reason).toMatch(/dahdi_echocan_oslec.*oslec_create/);
}

describeLifecycle(
  {
    deb: 'dahdi-dkms',
    module: 'dahdi',
    kos: DAHDI_KOS,
    dependsWithin: { wctdm24xxp: ['dahdi', 'dahdi_voicebus'], xpd_fxs: ['xpp'] },
  },
  { statusOf: dahdiStatus },
);
