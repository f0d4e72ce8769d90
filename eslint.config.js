// Lint rules. The domain layer (and the proxy's routing rules, src/proxy/table) is pure: no Node builtins, no clock, no randomness
// (time and ids are passed in), so it runs without a VM, a disk or a clock.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['node_modules/**', '.tools/**', '.hangar/**', '.data/**', '.scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', {
        selector: "CallExpression[callee.object.name='process'][callee.property.name='exit']",
        message: 'Only the entry file (src/main.ts) may call process.exit; handlers return an exit code.',
      }],
    },
  },
  {
    files: ['src/main.ts', 'scripts/**', 'bench/**', 'test/**'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['src/domain/**/*.ts', 'src/proxy/table/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['node:*', 'fs', 'path', 'os', 'child_process', 'crypto', 'net', 'http'], message: 'src/domain is pure: no I/O imports.' },
        { group: ['../api/*', '../control/*', '../store/*', '../agent/*', '../vmm/*', '../cli/*', '../../api/*', '../../control/*', '../../store/*', '../../agent/*', '../../vmm/*', '../../cli/*', '../../proxy/*'], message: 'src/domain and src/proxy/table depend on nothing but the domain.' },
      ] }],
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: 'Pass time in: the domain has no clock.' },
        { object: 'Math', property: 'random', message: 'Pass ids in: the domain has no randomness.' },
      ],
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Pass time in: the domain has no clock.' }],
    },
  },
);
