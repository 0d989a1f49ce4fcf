// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      'coverage/',
      'bench/out/',
      'examples/',
      '**/*.js',
      '!bench/*.js',
      '!scripts/*.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    files: ['bench/*.js', 'scripts/*.js', 'eslint.config.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      // Keep disableTypeChecked's parserOptions (no project service for untyped JS).
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly' },
    },
  },
  {
    // The core is pure: no disk, no processes. Effects live in src/system.
    files: ['src/core/**/*.ts'],
    // Tests of the core may read fixtures and run oracles; the core itself may not.
    ignores: ['src/core/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            'execa',
            'fs',
            'fs/promises',
            'child_process',
            'node:fs',
            'node:fs/promises',
            'node:child_process',
            'ini',
          ],
          patterns: ['../system/*', '../flows/*', '../commands/*', '../cli/*'],
        },
      ],
    },
  },
  // The layers: cli → commands → flows → system → core, no import back up. A procedure of
  // several steps (transactions) that a command runs lives in src/flows; src/system holds the
  // single effects and readers those steps are made of; a command parses, calls one flow or
  // reader, and prints.
  {
    files: ['src/system/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../flows/*', '../commands/*', '../cli/*'],
              message: 'src/system is below flows and commands',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/flows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['../commands/*', '../cli/*'], message: 'src/flows is below commands' }] },
      ],
    },
  },
);
