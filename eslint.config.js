// Lint (npm run lint): typescript-eslint's type-aware recommended rules over src, test, scripts and
// bench. Type-aware rules see what tsc does not flag: a promise nobody awaits or catches (the DNS
// edge's invariant is that no rejection escapes), a promise passed where a callback's result is
// ignored, an `any` flowing into typed code. Formatting is Prettier's (.prettierrc.json).
import eslint from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'helm/', '.bench-out/', 'bench/peers/'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { project: ['./tsconfig.json', './test/tsconfig.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // The codecs signal a malformed message with WalkError, a plain class without a stack trace:
      // hostile input must not pay for Error's stack capture, and it never leaves the codec.
      '@typescript-eslint/only-throw-error': [
        'error',
        {
          allow: [
            { from: 'file', name: 'WalkError' },
            { from: 'file', name: 'Overflow' },
          ],
        },
      ],
      // `const { services: _services, ...meta } = catalog` drops a key; `_x` marks a value kept
      // unused on purpose (a callback's position, a destructured tuple).
      // A `let` read by a closure before its one assignment (a teardown, a signal handler) must stay a let.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  { files: ['**/*.js', '**/*.mjs', '**/*.cjs'], ...tseslint.configs.disableTypeChecked },
);
