/**
 * Client commands must start fast, so they must not load the server: fastify, pino, the
 * drivers, the store, the image code. Each case runs the real `./hangar` with a hook that
 * records every module it loads, and checks them against what a client may use: the
 * CLI itself, the pure domain, the data directory's token file, the network's pure
 * address layout (serve's flags are checked with it before anything starts), and commander.
 * (No timing here: the figures are in bench/cli.ts.)
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { HANGAR, ROOT } from '../helpers/server-process.ts';

const SRC = pathToFileURL(join(ROOT, 'src/')).href;
const HOOK = fileURLToPath(new URL('../helpers/record-modules.ts', import.meta.url));
/**
 * What a client command may load from src/ (client/: the API's client; store/location.ts: serve reads --store with it, loading no store;
 * config.ts: the defaults its flags and the server share).
 */
const CLIENT_SOURCES = ['main.ts', 'config.ts', 'cli/', 'client/', 'domain/', 'system/data-dir.ts', 'network/layout.ts', 'store/location.ts'];
/** And from node_modules. */
const CLIENT_PACKAGES = ['commander'];

const dir = mkdtempSync(join(tmpdir(), 'hangar-client-imports-'));
let runs = 0;

/** Runs ./hangar with `argv`; returns its exit code and the modules it loaded, as paths under src/ and package names. */
async function loadedBy(argv: string[]): Promise<{ code: number; sources: string[]; packages: string[] }> {
  const record = join(dir, `modules-${runs++}`);
  const env = {
    ...process.env,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${JSON.stringify(HOOK)}`,
    HANGAR_RECORD_MODULES: record,
    HANGAR_API_URL: 'http://127.0.0.1:9', // nothing listens: the commands fail fast, after loading all they need
    HANGAR_API_TOKEN: 'x',
    HANGAR_DATA_DIR: join(dir, 'data'),
  };
  const code = await new Promise<number>((resolve) => {
    execFile(HANGAR, argv, { env }, (error) => resolve(typeof error?.code === 'number' ? error.code : error ? -1 : 0));
  });
  const urls = readFileSync(record, 'utf8').split('\n').filter(Boolean);
  const sources = urls.filter((url) => url.startsWith(SRC)).map((url) => url.slice(SRC.length));
  // By the package's own name: node_modules may be a symbolic link, and loaded modules carry the real path.
  const packages = urls.map((url) => /\/node_modules\/(@[^/]+\/[^/]+|[^/]+)\//.exec(url)?.[1]).filter((name) => name !== undefined);
  return { code, sources, packages: [...new Set(packages)] };
}

function assertClientOnly(loaded: { sources: string[]; packages: string[] }): void {
  // A hook that recorded nothing would let anything pass.
  assert.ok(loaded.sources.includes('cli/program.ts') && loaded.packages.includes('commander'), 'the hook saw the CLI load');
  const server = loaded.sources.filter((path) => !CLIENT_SOURCES.some((allowed) => path === allowed || (allowed.endsWith('/') && path.startsWith(allowed))));
  assert.deepEqual(server, [], 'a client command loaded server modules; import them lazily, from the command that needs them');
  assert.deepEqual(loaded.packages.filter((name) => !CLIENT_PACKAGES.includes(name)), [], 'a client command loaded server packages');
}

describe('client commands load no server code', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cases: Array<[argv: string[], code: number]> = [
    [['--version'], 0],
    [['--help'], 0],
    [['apps', 'list'], 1],
    [['machine', 'list', '-a', 'web'], 1],
    [['machine', 'status', '-a', 'web', 'ffffffffffffff'], 1],
    [['serve', '--driver', 'nosuch'], 2], // serve's flags are checked before the server is loaded
    [['serve', '--store', 'mysql://root:secret@db/hangar'], 2],
  ];
  for (const [argv, code] of cases) {
    it(`hangar ${argv.join(' ')}`, async () => {
      const loaded = await loadedBy(argv);
      assert.equal(loaded.code, code);
      assertClientOnly(loaded);
    });
  }

  it('would notice: `hangar serve` loads the server once its flags are read', async () => {
    // A bad listen address fails inside the server, before it sets anything up.
    const loaded = await loadedBy(['serve', '--driver', 'fake', '--data-dir', join(dir, 'serve'), '--api-listen', 'nowhere']);
    assert.equal(loaded.code, 1);
    assert.ok(loaded.sources.includes('server.ts'));
    assert.ok(loaded.packages.includes('fastify'));
  });

  it('`hangar serve` on SQLite never loads the PostgreSQL driver', async () => {
    // The API address is taken, so serve fails once its store is open and the hangar assembled.
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = taken.address() as AddressInfo;
      const loaded = await loadedBy(['serve', '--driver', 'fake', '--data-dir', join(dir, 'sqlite'), '--api-listen', `127.0.0.1:${port}`,
        '--proxy-listen', '127.0.0.1:0', '--proxy-tls-listen', 'off']);
      assert.equal(loaded.code, 1);
      assert.ok(loaded.sources.includes('store/sqlite/sqlite-store.ts') && loaded.sources.includes('api/app.ts'), 'the store was opened and the hangar assembled');
      assert.deepEqual(loaded.sources.filter((path) => path.startsWith('store/postgres/')), []);
      assert.ok(!loaded.packages.includes('pg'), 'pg is loaded only for a postgres:// store');
    } finally {
      taken.close();
    }
  });
});
