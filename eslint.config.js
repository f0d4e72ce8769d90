// Lint rules. The domain layer (and the proxy's routing rules, src/proxy/table) is pure: no Node builtins, no clock, no randomness
// (time and ids are passed in), so it runs without a VM, a disk or a clock.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

/**
 * The floors of src/, as allowlists: each room (a folder, or a file at the top of
 * src/) may import from the rooms named here and from nothing else, so every arrow
 * points down. From the bottom: the domain (pure); the store, images, the network
 * plan and config; system adapters and volume files; the use cases (control) and
 * the VMM drivers; the API, proxy, cluster and host agent; the composition roots;
 * the server; the CLI; the entry point.
 */
const FLOORS = {
  domain: [],
  commands: [],
  guest: ['domain'],
  config: ['domain'],
  store: ['domain'],
  image: ['domain', 'commands'],
  network: ['domain', 'commands'],
  system: ['domain', 'commands', 'network'],
  volumes: ['domain', 'commands', 'system'],
  control: ['domain', 'store', 'system'],
  vmm: ['domain', 'commands', 'guest', 'image', 'network', 'system', 'volumes'],
  agent: ['domain', 'system', 'vmm'],
  e2b: ['domain', 'guest', 'store', 'control'],
  api: ['domain', 'store', 'control', 'e2b'],
  proxy: ['domain', 'store', 'control', 'e2b'],
  cluster: ['domain', 'store', 'system', 'volumes', 'control'],
  drivers: ['domain', 'guest', 'image', 'network', 'system', 'volumes', 'vmm'],
  assemble: ['domain', 'config', 'store', 'network', 'system', 'volumes', 'control', 'vmm', 'agent', 'e2b', 'api', 'proxy', 'cluster'],
  server: ['domain', 'config', 'store', 'image', 'network', 'system', 'volumes', 'control', 'proxy', 'drivers', 'assemble'],
  client: [],
  deploy: ['domain', 'client'],
  cli: ['domain', 'config', 'store', 'network', 'system', 'api', 'server', 'client', 'deploy'],
  main: ['cli'],
};
/** Files at the top of src/ that are rooms of their own. */
const ROOT_FILES = new Set(['config', 'drivers', 'server', 'main']);
/** Node builtins the pure floors (the domain, the proxy's routing table) may not import. */
const IO = { group: ['node:*', 'fs', 'path', 'os', 'child_process', 'crypto', 'net', 'http'], message: 'the domain is pure: no I/O imports.' };

/** One lint block per room and depth: an import that leaves the room for a room not on its list is an error. */
function boundaries() {
  const rooms = Object.keys(FLOORS);
  return Object.entries(FLOORS).flatMap(([room, allowed]) => {
    const forbidden = rooms.filter((other) => other !== room && !allowed.includes(other));
    const message = `src/${room} may import only from ${allowed.join(', ') || 'itself'} (see FLOORS in eslint.config.js)`;
    const pure = room === 'domain' ? [IO] : [];
    const rule = (up) => ['error', { patterns: [...pure, { regex: `^${up}(${forbidden.join('|')})(/|\\.ts$)`, message }] }];
    if (ROOT_FILES.has(room)) return [{ files: [`src/${room}.ts`], rules: { 'no-restricted-imports': rule('\\./') } }];
    return [1, 2, 3, 4].map((depth) => ({
      files: [`src/${room}/${'*/'.repeat(depth - 1)}*.ts`],
      rules: { 'no-restricted-imports': rule(`(\\.\\./){${depth}}`) },
    }));
  }).concat({
    files: ['src/proxy/table/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [IO, { regex: '^(\\.\\./)+(?!domain/)[a-z-]+/', message: 'src/proxy/table is pure: it imports only the domain.' }] }] },
  });
}

export default tseslint.config(
  { ignores: ['node_modules/**', '.tools/**', '.hangar/**', '.data/**', '.scratch/**', 'console/dist/**'] },
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
    // The web console runs in the browser: its globals, and none of Node's.
    files: ['console/src/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['src/main.ts', 'scripts/**', 'bench/**', 'test/**'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  ...boundaries(),
  {
    files: ['src/domain/**/*.ts', 'src/proxy/table/**/*.ts'],
    rules: {
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: 'Pass time in: the domain has no clock.' },
        { object: 'Math', property: 'random', message: 'Pass ids in: the domain has no randomness.' },
      ],
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Pass time in: the domain has no clock.' }],
    },
  },
);
