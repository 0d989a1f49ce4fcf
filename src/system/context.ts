// What every command receives: the root, its paths, the loaded config and the output.
import type { Config } from '../core/config.js';
import { loadConfig } from './config.js';
import type { Output } from './output.js';
import { makePaths, type Paths } from './paths.js';
import { checkStateConfined, checkStateLayout } from './state-layout.js';

export interface Context {
  readonly root: string;
  readonly paths: Paths;
  readonly config: Config;
  readonly json: boolean;
  readonly out: Output;
}

export interface GlobalOptions {
  readonly root: string;
  readonly config?: string;
  readonly json: boolean;
}

export async function makeContext(opts: GlobalOptions, out: Output): Promise<Context> {
  const config = await loadConfig(opts.root, opts.config);
  const paths = makePaths(opts.root, config.paths);
  // Before any command reads or writes the state: one leading out of the root is refused,
  // and a layout written by a newer dkms-abi.
  checkStateConfined(paths);
  await checkStateLayout(paths);
  return { root: opts.root, paths, config, json: opts.json, out };
}
