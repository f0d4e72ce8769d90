/**
 * hangar-init on a real microVM: it mounts the root filesystem and a volume, sets
 * the host name, environment and files, runs the process, answers exec (with
 * stdin and exit codes) and ps, forwards the stop signal, reports the exit code,
 * and powers the VM off.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { machineInitramfs } from '../../src/guest/init-config.ts';
import { baseInitramfs, guestAssets } from '../../src/guest/initramfs.ts';
import { AgentChannel, type GuestExit } from '../../src/vmm/qemu/agent-channel.ts';
import { qemuArgv } from '../../src/vmm/qemu/argv.ts';
import { testVmLayout } from '../helpers/vm.ts';
import { ROOT } from '../helpers/server-process.ts';

const SCRIPT = 'echo "$GREETING from $(hostname)" > /data/greeting; trap "echo bye > /data/bye; exit 3" TERM; while true; do sleep 0.2; done';

function ext4(path: string, sizeMb: number, from?: string): void {
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', ...(from ? ['-d', from] : []), path, `${sizeMb}M`]);
}

describe('hangar-init in a microVM', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-init-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the process with its config and answers the host', async () => {
    const rootDir = join(dir, 'rootdir');
    for (const sub of ['bin', 'etc', 'tmp', 'data']) mkdirSync(join(rootDir, sub), { recursive: true });
    copyFileSync('/bin/busybox', join(rootDir, 'bin/busybox'));
    for (const applet of ['sh', 'cat', 'echo', 'hostname', 'sleep', 'ls']) symlinkSync('busybox', join(rootDir, 'bin', applet));
    writeFileSync(join(rootDir, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\n');
    ext4(join(dir, 'rootfs.img'), 32, rootDir);
    ext4(join(dir, 'volume.img'), 16);

    const assets = guestAssets(ROOT);
    const initrd = Buffer.concat([baseInitramfs(assets), machineInitramfs({
      hostname: 'machine-1234',
      rootDevice: '/dev/vda',
      mounts: [{ device: '/dev/vdb', path: '/data' }],
      env: { GREETING: 'hello', PATH: '/bin' },
      argv: ['/bin/sh', '-c', SCRIPT],
      files: [{ path: '/etc/motd', mode: 0o644, content: Buffer.from('welcome aboard\n') }],
      stop: { signal: 2, timeoutMs: 5000 },
    })]);
    writeFileSync(join(dir, 'initrd.img'), initrd);

    const layout = testVmLayout(dir, assets, {
      rootDisk: { path: join(dir, 'rootfs.img'), format: 'raw' },
      disks: [{ path: join(dir, 'volume.img'), format: 'raw' }],
    });
    const qemu = spawn('qemu-system-x86_64', qemuArgv(layout), { stdio: 'ignore' });
    const qemuExited = new Promise<number | null>((resolve) => qemu.once('exit', (code) => resolve(code)));
    const console = () => (existsSync(layout.consoleLog) ? readFileSync(layout.consoleLog, 'utf8') : '');
    try {
      for (let i = 0; !existsSync(layout.agentSocket) && i < 200; i++) await sleep(25);
      const agent = await AgentChannel.connect(layout.agentSocket);
      const started = new Promise<number>((resolve) => agent.once('started', resolve));
      const exited = new Promise<GuestExit>((resolve) => agent.once('exited', resolve));
      const pid = await Promise.race([started, sleep(60_000, undefined, { ref: false }).then(() => { throw new Error(`no start; console:\n${console()}`); })]);
      assert.ok(pid > 1);

      const run = (command: string[], stdin?: string) => agent.exec(command, { stdin, timeoutMs: 10_000 });
      // The program writes it a moment after it starts (under TCG, each of its execs is slow): looked for until there.
      let greeting = await run(['cat', '/data/greeting']);
      for (let i = 0; greeting.exitCode !== 0 && i < 100; i++) {
        await sleep(100);
        greeting = await run(['cat', '/data/greeting']);
      }
      assert.equal(greeting.stdout, 'hello from machine-1234\n', `${JSON.stringify(greeting)}\nconsole:\n${console()}`);
      assert.equal((await run(['cat', '/etc/motd'])).stdout, 'welcome aboard\n');
      assert.equal((await run(['cat'], 'from stdin')).stdout, 'from stdin');
      const failing = await run(['sh', '-c', 'echo oops >&2; exit 7']);
      assert.deepEqual([failing.exitCode, failing.stderr], [7, 'oops\n']);
      assert.equal((await run(['no-such-program'])).exitCode, 127);
      // The init sleeps until an event or a deadline: an exec past its timeout is killed on time.
      const overdue = performance.now();
      const slow = await agent.exec(['sleep', '30'], { timeoutMs: 1000 });
      assert.equal(slow.signal, 9, JSON.stringify(slow));
      assert.ok(performance.now() - overdue < 10_000, 'killed at its deadline, not when something else woke the init');

      const processes = await agent.ps();
      assert.ok(processes.some((p) => p.pid === pid && p.command.startsWith('/bin/sh -c')), JSON.stringify(processes));

      await agent.stop(15, 5000);
      const exit = await exited;
      assert.deepEqual(exit, { exitCode: 3, signal: -1, oomKilled: false });
      assert.equal(await qemuExited, 0);
      agent.close();
      const volume = join(dir, 'volume-out');
      mkdirSync(volume);
      execFileSync('debugfs', ['-R', 'dump /bye ' + join(volume, 'bye'), join(dir, 'volume.img')], { stdio: 'ignore' });
      assert.equal(readFileSync(join(volume, 'bye'), 'utf8'), 'bye\n');
    } finally {
      qemu.kill('SIGKILL');
    }
  });
});
