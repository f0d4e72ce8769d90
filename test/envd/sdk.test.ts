/**
 * hangar-envd driven by the real `e2b` SDK (pinned devDependency) in its debug
 * mode, which talks to an envd at localhost:49983 with no control plane: the agent
 * runs as a process of this host. Cases modelled on the SDK's own commands, files,
 * pty and watch suites (e2b-compat.md §5).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CommandExitError, FileNotFoundError, Sandbox, TimeoutError } from 'e2b';
import { type RunningEnvd, startEnvd } from '../helpers/envd.ts';

describe('hangar-envd, driven by the e2b SDK', () => {
  let envd: RunningEnvd;
  let sandbox: Sandbox;
  const dir = mkdtempSync(join(tmpdir(), 'hangar-envd-'));

  before(async () => {
    envd = await startEnvd({ HANGAR_ENVD_ENVS: JSON.stringify({ SANDBOX_WIDE: 'everywhere' }), HANGAR_ENVD_WORKDIR: dir });
    sandbox = await Sandbox.create({ debug: true, apiKey: 'e2b_0000000000000000000000000000000000000000' });
  });
  after(async () => {
    await envd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a command, streaming its output as it comes, and gives its exit code', async () => {
    const seen: string[] = [];
    const result = await sandbox.commands.run('echo one; sleep 0.2; echo two', { onStdout: (line) => { seen.push(line); } });
    assert.deepEqual([result.exitCode, result.stdout, result.stderr], [0, 'one\ntwo\n', '']);
    assert.deepEqual(seen, ['one\n', 'two\n'], 'each chunk as it was written');
    await assert.rejects(sandbox.commands.run('echo out; echo err >&2; exit 3'), (error: unknown) => {
      assert.ok(error instanceof CommandExitError);
      assert.deepEqual([error.exitCode, error.stdout, error.stderr], [3, 'out\n', 'err\n']);
      return true;
    });
  });

  it('gives a command the sandbox-wide variables, its own, and the default workdir or its cwd', async () => {
    const result = await sandbox.commands.run('echo "$SANDBOX_WIDE $MINE $(pwd)"', { envs: { MINE: 'mine' } });
    assert.equal(result.stdout, `everywhere mine ${dir}\n`);
    assert.equal((await sandbox.commands.run('pwd', { cwd: '/' })).stdout, '/\n');
  });

  it('keeps a background command\'s stdin open, lists it, connects to it again, and closes its stdin', async () => {
    const handle = await sandbox.commands.run('cat', { background: true, stdin: true });
    assert.ok((await sandbox.commands.list()).some((info) => info.pid === handle.pid && info.cmd === '/bin/bash'));
    await sandbox.commands.sendStdin(handle.pid, 'hello ');
    await handle.disconnect();
    const again = await sandbox.commands.connect(handle.pid);
    await sandbox.commands.sendStdin(handle.pid, 'again');
    await sandbox.commands.closeStdin(handle.pid);
    const result = await again.wait();
    assert.equal(result.exitCode, 0);
    assert.match(result.stdout, /again$/);
  });

  it('kills a command (true), and says false for one that is gone', async () => {
    const handle = await sandbox.commands.run('sleep 30', { background: true });
    assert.equal(await sandbox.commands.kill(handle.pid), true);
    await assert.rejects(handle.wait(), CommandExitError);
    assert.equal(await sandbox.commands.kill(handle.pid), false);
    assert.ok(!(await sandbox.commands.list()).some((info) => info.pid === handle.pid));
  });

  it('ends a command that runs past its timeout, killing it', async () => {
    await assert.rejects(sandbox.commands.run(`sleep 20; touch ${dir}/not-killed`, { timeoutMs: 500 }), TimeoutError);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const left = await sandbox.commands.list();
    assert.ok(!left.some((info) => info.args.some((arg) => arg.includes('not-killed'))), 'the process is gone');
  });

  it('writes and reads files: text, bytes, several at once, gzip both ways, with parents made', async () => {
    const info = await sandbox.files.write(`${dir}/a/b/hello.txt`, 'hello world');
    assert.deepEqual([info.name, info.path], ['hello.txt', `${dir}/a/b/hello.txt`]);
    assert.equal(await sandbox.files.read(`${dir}/a/b/hello.txt`), 'hello world');
    const bytes = new Uint8Array(256 * 1024).map((_, i) => i % 251);
    await sandbox.files.write(`${dir}/bytes.bin`, bytes.buffer);
    assert.deepEqual(await sandbox.files.read(`${dir}/bytes.bin`, { format: 'bytes' }), bytes);
    const many = await sandbox.files.write([{ path: `${dir}/m/1.txt`, data: 'one' }, { path: `${dir}/m/2.txt`, data: 'two' }]);
    assert.deepEqual(many.map((file) => file.path), [`${dir}/m/1.txt`, `${dir}/m/2.txt`]);
    await sandbox.files.write(`${dir}/zipped.txt`, 'squeezed '.repeat(1000), { gzip: true });
    assert.equal(await sandbox.files.read(`${dir}/zipped.txt`, { gzip: true }), 'squeezed '.repeat(1000));
    await assert.rejects(sandbox.files.read(`${dir}/missing.txt`), FileNotFoundError);
  });

  it('stats, lists to a depth, makes, renames and removes', async () => {
    assert.equal(await sandbox.files.exists(`${dir}/a/b/hello.txt`), true);
    assert.equal(await sandbox.files.exists(`${dir}/nothing`), false);
    const info = await sandbox.files.getInfo(`${dir}/a/b/hello.txt`);
    assert.deepEqual([info.type, info.size, info.permissions], ['file', 11, '-rw-r--r--']);
    assert.deepEqual((await sandbox.files.list(`${dir}/a`)).map((entry) => entry.name), ['b']);
    assert.deepEqual((await sandbox.files.list(`${dir}/a`, { depth: 2 })).map((entry) => entry.path), [`${dir}/a/b`, `${dir}/a/b/hello.txt`]);
    assert.equal(await sandbox.files.makeDir(`${dir}/made/deep`), true);
    assert.equal(await sandbox.files.makeDir(`${dir}/made/deep`), false, 'already there');
    const moved = await sandbox.files.rename(`${dir}/a/b/hello.txt`, `${dir}/made/hello.txt`);
    assert.equal(moved.path, `${dir}/made/hello.txt`);
    await sandbox.files.remove(`${dir}/made`);
    assert.equal(await sandbox.files.exists(`${dir}/made`), false);
  });

  it('watches a directory, recursively, reporting what is made and written', async () => {
    await sandbox.files.makeDir(`${dir}/watched/sub`);
    const events: Array<{ name: string; type: string }> = [];
    const handle = await sandbox.files.watchDir(`${dir}/watched`, (event) => { events.push({ name: event.name, type: event.type }); }, { recursive: true });
    await sandbox.files.write(`${dir}/watched/top.txt`, 'x');
    await sandbox.files.write(`${dir}/watched/sub/deep.txt`, 'y');
    for (let i = 0; i < 100 && !events.some((event) => event.name === 'sub/deep.txt'); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    await handle.stop();
    assert.ok(events.some((event) => event.name === 'top.txt' && event.type === 'create'), JSON.stringify(events));
    assert.ok(events.some((event) => event.name === 'sub/deep.txt'), JSON.stringify(events));
  });

  it('runs a shell on a PTY: input typed, output on the terminal, resized, killed', async () => {
    let output = '';
    const decoder = new TextDecoder();
    const terminal = await sandbox.pty.create({ cols: 80, rows: 24, onData: (data) => { output += decoder.decode(data); } });
    // Typed before the shell reads its terminal, input may be flushed (bash sets the terminal up with TCSAFLUSH): wait for its prompt.
    for (let i = 0; i < 1000 && !/[#$] $/.test(output); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    await sandbox.pty.sendInput(terminal.pid, new TextEncoder().encode('stty size; echo "tty:$(tty)"\n'));
    for (let i = 0; i < 1000 && !/tty:\/dev\/pts\//.test(output); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.match(output, /24 80/);
    assert.match(output, /tty:\/dev\/pts\/\d+/);
    await sandbox.pty.resize(terminal.pid, { cols: 100, rows: 30 });
    await sandbox.pty.sendInput(terminal.pid, new TextEncoder().encode('stty size\n'));
    for (let i = 0; i < 1000 && !/30 100/.test(output); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.match(output, /30 100/);
    assert.equal(await sandbox.pty.kill(terminal.pid), true);
    await assert.rejects(terminal.wait());
  });
});
