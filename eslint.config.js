// Lint rules that encode the project's architecture, not only style:
// shared/ stays isomorphic, no default exports, no import cycles, and
// client/ and server/ never import each other.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

const nodeOnly = {
  group: [
    'node:*',
    'fs',
    'path',
    'os',
    'crypto',
    'zlib',
    'child_process',
    'worker_threads',
    'http',
  ],
  message:
    'shared/ is isomorphic: no Node built-ins. Put Node code in node/, server/ or client/node/.',
};

export const config = tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'client/browser/dist/**',
      '.fedistill/**',
      'data/**',
      'runs/**',
      'artifacts/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    languageOptions: { parserOptions: { projectService: false } },
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      'import-x/no-default-export': 'error',
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': [
        'error',
        {
          selector:
            'CallExpression[callee.property.name=/^(only|skip)$/][callee.object.name=/^(it|test|describe)$/]',
          message: 'No focused or skipped tests.',
        },
      ],
    },
  },
  {
    files: ['shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            nodeOnly,
            {
              group: ['**/server/**', '**/client/**', '**/node/**', '**/cli/**', '**/sim/**'],
              message: 'shared/ depends on nothing above it.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        'window',
        'document',
        'navigator',
        'localStorage',
        'indexedDB',
        'process',
        'Buffer',
        'require',
        '__dirname',
      ],
    },
  },
  {
    files: ['server/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/client/**', '**/cli/**', '**/sim/**'],
              message: 'server/ never imports client/, cli/ or sim/.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['client/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/server/**', '**/cli/**', '**/sim/**'],
              message: 'client/ never imports server/, cli/ or sim/.',
            },
          ],
        },
      ],
    },
  },
);

// eslint's flat config loader requires the default export of this one file.
export default config;
