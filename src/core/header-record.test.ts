import { describe, expect, it } from 'vitest';
import {
  RELEASE_PLACEHOLDER,
  compareHeaders,
  driftAction,
  headerDetail,
  headerFinding,
  driftSummary,
  formatHeaderRecord,
  kernelHeaderKey,
  mayNeedNormalising,
  normaliseHeader,
  parseHeaderRecord,
  parseIncludeTrace,
} from './header-record.js';
import { InputError } from './errors.js';

const roots = {
  build: '/usr/src/linux-headers-6.1.0-47-amd64',
  source: '/usr/src/linux-headers-6.1.0-47-common',
};

describe('parseIncludeTrace', () => {
  it('takes gcc -H lines at any depth, once each, and ignores make output and the guard list', () => {
    const log = [
      'make: Entering directory',
      '. ./include/linux/kconfig.h',
      '.. ./include/generated/autoconf.h',
      '. /usr/src/linux-headers-6.1.0-47-common/include/linux/module.h',
      '. ./include/linux/kconfig.h',
      'Multiple include guards may be useful for:',
      '/usr/src/linux-headers-6.1.0-47-common/include/linux/x.h',
      '  CC [M]  /var/lib/dkms/m/1/build/m.o',
    ].join('\n');
    expect(parseIncludeTrace(log)).toEqual([
      './include/linux/kconfig.h',
      './include/generated/autoconf.h',
      '/usr/src/linux-headers-6.1.0-47-common/include/linux/module.h',
    ]);
  });
});

describe('kernelHeaderKey', () => {
  it('keys build-relative and source files by their path below the root', () => {
    expect(kernelHeaderKey('./include/generated/autoconf.h', roots)).toBe('include/generated/autoconf.h');
    expect(
      kernelHeaderKey(
        '/usr/src/linux-headers-6.1.0-47-common/arch/x86/include/asm/../../../../include/linux/a.h',
        roots,
      ),
    ).toBe('include/linux/a.h');
  });
  it('leaves out the module sources and system headers', () => {
    expect(kernelHeaderKey('/var/lib/dkms/m/1/build/m.h', roots)).toBeUndefined();
    expect(kernelHeaderKey('/usr/lib/gcc/x86_64-linux-gnu/12/include/stdarg.h', roots)).toBeUndefined();
    expect(kernelHeaderKey('/usr/src/linux-headers-6.1.0-47-amd64x/include/a.h', roots)).toBeUndefined();
  });
});

describe('normaliseHeader', () => {
  it('makes utsrelease.h of two kernels of one ABI equal', () => {
    const a = normaliseHeader('#define UTS_RELEASE "6.1.0-47-amd64"\n', '6.1.0-47-amd64');
    const b = normaliseHeader('#define UTS_RELEASE "6.1.0-47b-amd64"\n', '6.1.0-47b-amd64');
    expect(a).toBe(b);
    expect(a).toContain(RELEASE_PLACEHOLDER);
  });
  it('normalises the autoconf.h banner and CONFIG_BUILD_SALT but keeps a real change', () => {
    const h = (v: string, rel: string, x: string): string =>
      normaliseHeader(
        ` * Linux/x86 ${v} Kernel Configuration\n#define CONFIG_BUILD_SALT "${rel}"\n#define CONFIG_X ${x}\n`,
        rel,
      );
    expect(h('6.1.170', '6.1.0-47-amd64', '1')).toBe(h('6.1.171', '6.1.0-47x-amd64', '1'));
    expect(h('6.1.170', '6.1.0-47-amd64', '1')).not.toBe(h('6.1.170', '6.1.0-47x-amd64', '2'));
  });
  it('leaves a header without the release as it is', () => {
    expect(normaliseHeader('static inline int f(void) { return 1; }\n', '6.1.0-47-amd64')).toBe(
      'static inline int f(void) { return 1; }\n',
    );
  });
  it('is needed exactly where it changes the bytes (the hash skips it elsewhere)', () => {
    const rel = '6.1.0-47-amd64';
    const texts = [
      'static inline int f(void) { return 1; }\n',
      `#define UTS_RELEASE "${rel}"\n`,
      ' * Linux/x86 6.1.170 Kernel Configuration\n',
      'caf\xe9 \xff bytes that are not UTF-8\n',
    ];
    for (const t of texts) {
      const bytes = Buffer.from(t, 'latin1');
      if (!mayNeedNormalising(bytes, rel)) expect(normaliseHeader(t, rel)).toBe(t);
      else expect(normaliseHeader(t, rel)).not.toBe(t);
    }
    expect(texts.map((t) => mayNeedNormalising(Buffer.from(t, 'latin1'), rel))).toEqual([
      false,
      true,
      true,
      false,
    ]);
  });
});

describe('header record', () => {
  const a = 'a'.repeat(64);
  const b = 'b'.repeat(64);
  it('round-trips sorted sha256sum lines', () => {
    const text = formatHeaderRecord([
      { file: 'include/linux/z.h', sha256: a },
      { file: 'include/linux/a.h', sha256: b },
    ]);
    expect(text).toBe(`${b}  include/linux/a.h\n${a}  include/linux/z.h\n`);
    expect(parseHeaderRecord(text, 'headers.sha256')).toEqual([
      { file: 'include/linux/a.h', sha256: b },
      { file: 'include/linux/z.h', sha256: a },
    ]);
  });
  it('names the file and line of a bad record', () => {
    expect(() => parseHeaderRecord(`${a}  x.h\nnonsense\n`, '/t/headers.sha256')).toThrow(
      new InputError('/t/headers.sha256', 'not a "<sha256>  <header>" line', 2),
    );
  });
});

describe('compareHeaders', () => {
  const rec = [
    { file: 'include/linux/a.h', sha256: 'a'.repeat(64) },
    { file: 'include/linux/b.h', sha256: 'b'.repeat(64) },
  ];
  it('same when every recorded file hashes the same', () => {
    const cur = new Map([
      ['include/linux/a.h', 'a'.repeat(64)],
      ['include/linux/b.h', 'b'.repeat(64)],
    ]);
    expect(compareHeaders(rec, cur)).toEqual({ kind: 'same' });
  });
  it('names changed and missing files', () => {
    const cur = new Map<string, string | undefined>([
      ['include/linux/a.h', 'c'.repeat(64)],
      ['include/linux/b.h', undefined],
    ]);
    expect(compareHeaders(rec, cur)).toEqual({
      kind: 'differ',
      drifted: ['include/linux/a.h', 'include/linux/b.h'],
    });
  });
  it('summarises long lists', () => {
    expect(driftSummary(['a', 'b', 'c', 'd'])).toBe('a, b and 2 more');
    expect(driftSummary(['a'])).toBe('a');
  });
});

describe('headerDetail and driftAction', () => {
  const differ = headerFinding({ kind: 'differ', drifted: ['include/linux/foo.h'] });
  const noHeaders = headerFinding({ kind: 'unchecked', why: 'no headers' });
  const noRecord = headerFinding({ kind: 'unchecked', why: 'no header record' });
  const same = headerFinding({ kind: 'same' });
  it('says what differs or that nothing was checked', () => {
    expect(headerDetail(differ)).toBe('; headers differ: include/linux/foo.h');
    expect(headerDetail(noHeaders)).toBe('; headers not checked');
    expect(headerDetail(same)).toBe('');
    expect(headerDetail(undefined)).toBe('');
  });
  it('rebuilds on drift by default, warns or ignores when told', () => {
    expect(driftAction(differ, 'rebuild', false)).toBe('rebuild');
    expect(driftAction(differ, 'warn', false)).toBe('warn');
    expect(driftAction(differ, 'ignore', false)).toBe('reuse');
    expect(driftAction(same, 'rebuild', true)).toBe('reuse');
  });
  it('reuses without headers unless require_headers, and never rebuilds for a missing record', () => {
    expect(driftAction(noHeaders, 'rebuild', false)).toBe('reuse');
    expect(driftAction(noHeaders, 'rebuild', true)).toBe('rebuild');
    expect(driftAction(noHeaders, 'ignore', true)).toBe('reuse');
    expect(driftAction(noRecord, 'rebuild', true)).toBe('reuse');
  });
});
