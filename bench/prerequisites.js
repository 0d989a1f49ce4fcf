// What the benchmarks need on the machine (scripts/setup-system.sh installs it), checked up
// front so a missing piece is one clear line, not a failure minutes into the run.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { K47, K50, REPO, headersDir, hostSymvers, imageModules } from './roots.js';

const TOOLS = [
  'hyperfine',
  'dkms',
  'depmod',
  'modprobe',
  'make',
  'gcc',
  'bash',
  'awk',
  'sort',
  'comm',
  'diff',
  'cp',
];

export function checkPrerequisites() {
  const problems = [];
  for (const t of TOOLS) {
    if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) problems.push(`${t} not found`);
  }
  if (!existsSync('/usr/bin/time')) problems.push('/usr/bin/time not found (package "time")');
  if (!existsSync(path.join(REPO, 'dist/cli.mjs'))) problems.push('dist/ not built: npm run build');
  for (const k of [K47, K50]) {
    if (!existsSync(hostSymvers(k))) problems.push(`no headers at ${headersDir(k)}`);
    if (!existsSync(path.join(imageModules(k), 'kernel')))
      problems.push(`no unpacked image at ${imageModules(k)}`);
  }
  // dkms 3.0.10 lets framework.conf override the signing key we point into the sandbox: it
  // would then sign with (or create) a key outside it.
  for (const f of frameworkFiles()) {
    const text = readFileSync(f, 'utf8');
    if (/^\s*(mok_signing_key|mok_certificate|sign_file)\s*=/m.test(text)) {
      problems.push(`${f} sets signing variables; stock dkms would write outside the sandbox`);
    }
  }
  return problems;
}

function frameworkFiles() {
  const out = ['/etc/dkms/framework.conf'].filter((f) => existsSync(f));
  try {
    for (const f of readdirSync('/etc/dkms/framework.conf.d').sort()) {
      if (f.endsWith('.conf')) out.push(path.join('/etc/dkms/framework.conf.d', f));
    }
  } catch {
    // no drop-ins
  }
  return out;
}
