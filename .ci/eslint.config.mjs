// ESLint's configuration (flat config), run by `npm run lint` (part of `npm test`) with --config. It lives in .ci/
// because the repository's top level holds only the agreed entries; `basePath` makes every pattern below relative to
// the repository root. Type-aware rules (no-floating-promises, no-misused-promises, await-thenable) need the
// TypeScript program: projectService finds each file's tsconfig.
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** The repository root: every pattern below is relative to it, wherever ESLint is started. */
const root = new URL('..', import.meta.url).pathname;

export default defineConfig([
  {
    basePath: root,
    ...globalIgnores([
      '**/node_modules/',
      '**/dist/',
      'dist-bench/',
      'data/',
      'coverage/',
      'src/explorer/web/',
      'src/explorer/build.mjs',
      'test/support/summary-reporter.js',
    ]),
  },
  {
    basePath: root,
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    plugins: { '@stylistic': stylistic },
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: root },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': [
        'error',
        { checksVoidReturn: { arguments: false, attributes: false } },
      ],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // Prettier formats to 120 columns (package.json) but cannot break what is left: comments are wrapped by hand, and
      // only a string, template, regular expression or URL may run past (a message is kept whole, to be found by grep).
      '@stylistic/max-len': [
        'error',
        { code: 120, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true },
      ],
      // Input checks refuse control characters on purpose (header injection, one-line labels): the ranges are the point.
      'no-control-regex': 'off',
    },
  },
  {
    // Tests build fakes of Google's clients and read loose JSON answers.
    basePath: root,
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    basePath: root,
    files: ['**/*.js', '**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
      },
    },
  },
]);
