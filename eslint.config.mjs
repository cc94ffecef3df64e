// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.data/', '.temporal/', '.venv-fuzz/', 'bench/results/', 'test/artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A forgotten await on an activity, timer or query is a real bug, not a style issue.
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's describe/it return promises the runner itself awaits.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }] },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Plain CommonJS scripts that run before tsx is installed (npm postinstall).
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The workflow sandbox is a wall: no Node built-ins, no I/O, activities only as types.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...builtinModules, ...builtinModules.map((m) => `node:${m}`)].map((name) => ({
            name,
            message: 'Workflow code runs in a deterministic sandbox: no Node built-ins.',
          })),
          patterns: [
            {
              group: [
                '../activities',
                '../activities/*',
                '../providers',
                '../providers/**',
                '../api/*',
                '../worker/*',
                '../db/*',
                '../config/*',
                '../encryption/*',
                '../observability/*',
              ],
              allowTypeImports: true,
              message: 'Workflows import activities, providers, api, worker, db, config, encryption and observability only as types.',
            },
          ],
        },
      ],
    },
  },
);
