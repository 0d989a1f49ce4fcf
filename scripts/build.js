// npm run build: the program as one bundle, plus the same sources compiled file by file.
//
// dist/cli.mjs          the entry bin/dkms-abi imports: commander, the error handler and every
//                       command's declaration (help and usage errors need them all), and the
//                       few chunks they share with the commands (errors, output)
// dist/chunks/*.mjs     each command's code and the modules it needs, imported only when that
//                       command runs; node_modules is bundled too, so the program needs none;
//                       and verdict-worker.mjs, the script of the verdict pool's threads
// dist/<path>.js        src/<path>.ts compiled one file each, for the tests and benchmarks that
//                       load a single module (dist/system/lock.js) in a child process
//
// The chunks sit two levels below the package root, as src/commands/*.ts do, so a module that
// finds the package's hooks/ relative to itself finds it from either (setup-hooks). The
// version is inlined: `dkms-abi --version` reads no file. Typechecking stays with tsc
// (npm run typecheck); esbuild only strips the types.
import { build } from 'esbuild';
import { readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';

const REPO = path.resolve(import.meta.dirname, '..');
const DIST = path.join(REPO, 'dist');
const { version } = JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf8'));

const common = {
  absWorkingDir: REPO,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  logLevel: 'warning',
  define: { DKMS_ABI_VERSION: JSON.stringify(version) },
  // Paths in the output (comments, chunk hashes) as seen from the repository, wherever a
  // symlinked node_modules really is: the same tree gives the same bundle.
  preserveSymlinks: true,
};

// commander require()s node:child_process at load, for executable sub-commands dkms-abi does
// not have; loading it costs several milliseconds of every start. Give commander a stand-in
// that loads the real module on first use.
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onResolve({ filter: /^node:child_process$/ }, (args) =>
      args.importer.includes('/node_modules/commander/')
        ? { path: 'child_process', namespace: 'lazy' }
        : undefined,
    );
    b.onLoad({ filter: /^child_process$/, namespace: 'lazy' }, () => ({
      loader: 'js',
      contents:
        "let real; module.exports = new Proxy({}, { get: (_, key) => (real ??= require('node:child_process'))[key] });",
    }));
  },
};

/** src/**\/*.ts without the unit tests. */
async function sources(dir) {
  const found = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await sources(file)));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) found.push(file);
  }
  return found;
}

await rm(DIST, { recursive: true, force: true });

const bundle = await build({
  ...common,
  // The verdict pool's worker thread is a script of its own, started by path from the chunk
  // that holds the pool: it sits beside the chunks, sharing them.
  entryPoints: { cli: 'src/cli.ts', 'chunks/verdict-worker': 'src/system/verdict-worker.ts' },
  metafile: true,
  outdir: DIST,
  bundle: true,
  splitting: true,
  entryNames: '[dir]/[name]',
  chunkNames: 'chunks/[name]-[hash]',
  // .mjs: /usr/lib/dkms-abi has no package.json saying "type": "module".
  outExtension: { '.js': '.mjs' },
  // commander and ini are CommonJS and require() node's own modules; an ES module has no
  // require, so give every output file one.
  banner: {
    js: "import { createRequire as __dkmsAbiRequire } from 'node:module';\nconst require = __dkmsAbiRequire(import.meta.url);",
  },
  legalComments: 'inline',
  plugins: [lazyChildProcess],
});

// The Debian package's copyright file names every library the bundle contains: a new
// run-time dependency must be added there before it ships.
const copyright = await readFile(path.join(REPO, 'packaging/copyright'), 'utf8');
const listed = new Set([...copyright.matchAll(/^Files: node_modules\/(\S+)\/\*$/gm)].map((m) => m[1]));
const bundled = new Set(
  Object.keys(bundle.metafile.inputs)
    .map((input) => /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1])
    .filter((name) => name !== undefined),
);
const unlisted = [...bundled].filter((name) => !listed.has(name));
if (unlisted.length > 0) {
  console.error(`build: the bundle contains ${unlisted.join(', ')}, missing from packaging/copyright`);
  process.exitCode = 2;
}

await build({
  ...common,
  entryPoints: await sources(path.join(REPO, 'src')),
  outbase: 'src',
  outdir: DIST,
  bundle: false,
});
