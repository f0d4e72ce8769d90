/**
 * hangar's short commands, run by its command runner (src/commands/run.ts): what
 * `promisify(execFile)` gave back, and a runner that exits is replaced.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { type CommandError, run } from '../../src/commands/run.ts';

describe('commands run by the command runner', () => {
  it('gives back what a command printed, and feeds it its input', async () => {
    assert.deepEqual(await run('sh', ['-c', 'echo out; echo err >&2']), { stdout: 'out\n', stderr: 'err\n' });
    assert.equal((await run('cat', [], { input: 'fed\n' })).stdout, 'fed\n');
    assert.equal((await run('sh', ['-c', 'echo "$ONLY"'], { env: { ONLY: 'this' } })).stdout, 'this\n');
  });

  it('runs commands side by side', async () => {
    const began = Date.now();
    const outs = await Promise.all([1, 2, 3].map((n) => run('sh', ['-c', `sleep 0.3; echo ${n}`])));
    assert.deepEqual(outs.map((out) => out.stdout), ['1\n', '2\n', '3\n']);
    assert.ok(Date.now() - began < 850, 'three 0.3 s sleeps ran one after another');
  });

  it('fails a command that fails, with its exit code and what it printed', async () => {
    const error = await run('sh', ['-c', 'echo partial; echo why >&2; exit 3']).then(() => undefined, (e: CommandError) => e);
    assert.ok(error);
    assert.equal(error.code, 3);
    assert.equal(error.stdout, 'partial\n');
    assert.equal(error.stderr, 'why\n');
    const missing = await run('/nonexistent/command', []).then(() => undefined, (e: CommandError) => e);
    assert.equal(missing?.code, 'ENOENT');
  });

  it('kills a command at its timeout, and one whose signal aborts', async () => {
    const timedOut = await run('sleep', ['5'], { timeout: 100 }).then(() => undefined, (e: CommandError) => e);
    assert.equal(timedOut?.signal, 'SIGTERM');
    assert.equal(timedOut?.killed, true);
    const aborting = new AbortController();
    const marker = `hangar-commands-test-${process.pid}`;
    const running = run('bash', ['-c', `exec -a ${marker} sleep 5`], { signal: aborting.signal });
    await waitFor(() => pgrep(marker));
    aborting.abort();
    await assert.rejects(running, { name: 'AbortError' });
    await waitFor(() => !pgrep(marker));
  });

  it('forks a new runner when the last one exits, its commands killed and failed', async () => {
    const runner = Number((await run('sh', ['-c', 'echo $PPID'])).stdout);
    const marker = `hangar-commands-orphan-${process.pid}`;
    const inFlight = run('bash', ['-c', `exec -a ${marker} sleep 30`]);
    await waitFor(() => pgrep(marker));
    process.kill(runner, 'SIGKILL');
    await assert.rejects(inFlight, /command runner exited/);
    // Told it ended, its caller must be able to trust that it did.
    await waitFor(() => !pgrep(marker));
    const next = Number((await run('sh', ['-c', 'echo $PPID'])).stdout);
    assert.notEqual(next, runner);
    assert.equal((await run('echo', ['again'])).stdout, 'again\n');
  });

  it('ends its runner quietly when hangar dies with commands in flight, and kills them', async () => {
    const marker = `hangar-commands-parent-${process.pid}`;
    const script = `import { run } from ${JSON.stringify(new URL('../../src/commands/run.ts', import.meta.url).href)};
      const pid = (await run('sh', ['-c', 'echo $PPID'])).stdout.trim();
      console.log(pid);
      await run('bash', ['-c', 'exec -a ${marker} sleep 30']);`;
    const hangar = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let said = '';
    let complained = '';
    hangar.stdout.on('data', (chunk: Buffer) => { said += chunk; });
    hangar.stderr.on('data', (chunk: Buffer) => { complained += chunk; });
    await waitFor(() => said.includes('\n') && pgrep(marker));
    const runner = Number(said.trim());
    hangar.kill('SIGKILL');
    await waitFor(() => !alive(runner) && !pgrep(marker));
    assert.equal(complained, '', 'the runner said nothing on its way out');
  });
});

function pgrep(pattern: string): boolean {
  try {
    execFileSync('pgrep', ['-f', pattern]);
    return true;
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(check: () => boolean): Promise<void> {
  for (let waited = 0; !check(); waited += 20) {
    if (waited > 5_000) throw new Error('waited 5 s in vain');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
