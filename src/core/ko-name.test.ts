import { describe, expect, it } from 'vitest';
import {
  isModuleFile,
  isModuleFileOf,
  moduleFileStem,
  moduleNameOf,
  withoutModuleSuffix,
} from './ko-name.js';

describe('module file names', () => {
  it.each([
    ['hello.ko', true],
    ['hello.ko.gz', true],
    ['hello.ko.xz', true],
    ['hello.ko.zst', true],
    ['hello.ko.bz2', false],
    ['hello.o', false],
    ['Module.symvers', false],
  ])('%s is a module file: %s', (name, want) => {
    expect(isModuleFile(name)).toBe(want);
  });

  it.each([
    ['hello.ko', 'hello', true],
    ['hello.ko.xz', 'hello', true],
    ['hello2.ko', 'hello', false],
    ['hello.kobj', 'hello', false],
  ])('%s is a build of %s: %s', (name, dest, want) => {
    expect(isModuleFileOf(name, dest)).toBe(want);
  });

  it.each([
    ['dkms/misc/hello_abi.ko.xz', 'dkms/misc/hello_abi', 'hello_abi', 'hello_abi'],
    ['dkms/abi-provider.ko', 'dkms/abi-provider', 'abi-provider', 'abi_provider'],
    ['kernel/fs/jbd2/jbd2.ko.zst', 'kernel/fs/jbd2/jbd2', 'jbd2', 'jbd2'],
    // Module.symvers names modules without a suffix.
    ['fs/jbd2/jbd2', 'fs/jbd2/jbd2', 'jbd2', 'jbd2'],
    // Only a suffix at the end counts; a directory named like a module is a directory.
    ['a.ko/b-c.ko.gz', 'a.ko/b-c', 'b-c', 'b_c'],
  ])('%s: path %s, stem %s, name %s', (file, path, stem, name) => {
    expect(withoutModuleSuffix(file)).toBe(path);
    expect(moduleFileStem(file)).toBe(stem);
    expect(moduleNameOf(file)).toBe(name);
  });
});
