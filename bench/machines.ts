/**
 * Real-machine benchmark: `hangar serve --driver qemu` with a small
 * busybox HTTP image from a loopback registry. Measures create-to-started and
 * create-to-first-HTTP-answer, cold start (POST start → app answers) of an existing
 * machine, and QEMU's host memory beyond what the guest uses. The floor: the same
 * kernel, initramfs and rootfs booted by QEMU directly (no hangar) to the first
 * HTTP answer, in the same run. Prints figures; asserts nothing. Needs root.
 *
 *   node bench/machines.ts        (BENCH_RUNS, default 5)
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { guestAssets } from '../src/guest/initramfs.ts';
import { runCommands } from '../src/network/host-network.ts';
import { machineLinkSetup, machineLinkTeardown, tapName, guestMac } from '../src/network/plan.ts';
import { removeNamespace, serverNetworkLayout } from '../test/helpers/network.ts';
import { qemuArgv } from '../src/vmm/qemu/argv.ts';
import { overlayArgv } from '../src/vmm/qemu/machine-files.ts';
import { pushImage, startRegistry } from '../test/helpers/registry.ts';
import { request, ROOT, startServerProcess } from '../test/helpers/server-process.ts';
import { testVmLayout } from '../test/helpers/vm.ts';
import { figureTable, formatTimes, machineFacts, summarize } from './lib.ts';
import { busyboxLayer } from '../test/helpers/image-build.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const dir = mkdtempSync(join(tmpdir(), 'hangar-bench-vm-'));
const netns = `hgr-bench-${Math.random().toString(16).slice(2, 6)}`;
const registry = await startRegistry();
const { report, printTable } = figureTable();
const fmt = formatTimes;

async function firstAnswer(ip: string, deadlineMs = 60_000): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < deadlineMs) {
    const ok = await fetch(`http://[${ip}]:8080/`, { signal: AbortSignal.timeout(150) }).then((r) => r.ok, () => false);
    if (ok) return performance.now();
    await sleep(10);
  }
  throw new Error(`no answer from ${ip}`);
}

try {
  console.log(`machine: ${machineFacts()}`);
  const files = busyboxLayer(['sh', 'httpd', 'free'], { '/www/index.html': { mode: 0o644, content: Buffer.from('ok\n') } });
  await pushImage(registry.host, 'bench/web', '1', [{ compression: 'gzip', files }], { config: { Cmd: ['/bin/httpd', '-f', '-p', '8080', '-h', '/www'], Env: ['PATH=/bin'] } });
  const image = `${registry.host}/bench/web:1`;

  const data = join(dir, 'data');
  const server = await startServerProcess(data, 'bench', ['--driver', 'qemu', '--netns', netns, '--network-check-interval', '0']);
  const api = (method: string, path: string, body?: unknown) => request(server, method, path, body);
  await api('POST', '/v1/apps', { name: 'bench' });
  // Warm the image cache so that create measures boots, not the first pull.
  const warm = (await api('POST', '/v1/apps/bench/machines', { skip_launch: true, config: { image } })).body;

  const createStarted: number[] = [];
  const createAnswer: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const machine = (await api('POST', '/v1/apps/bench/machines', { config: { image, restart: { policy: 'no' } } })).body;
    await api('GET', `/v1/apps/bench/machines/${machine.id}/wait?state=started&timeout=60`);
    createStarted.push(performance.now() - t0);
    createAnswer.push((await firstAnswer(machine.private_ip)) - t0);
    await api('DELETE', `/v1/apps/bench/machines/${machine.id}?force=true`);
    await api('GET', `/v1/apps/bench/machines/${machine.id}/wait?state=destroyed&timeout=60`);
  }
  report('create → started', fmt(createStarted));
  report('create → first HTTP answer', fmt(createAnswer));

  const machine = (await api('POST', '/v1/apps/bench/machines', { config: { image, restart: { policy: 'no' } } })).body;
  await api('GET', `/v1/apps/bench/machines/${machine.id}/wait?state=started&timeout=60`);
  await firstAnswer(machine.private_ip);
  const pid = Number(readFileSync(join(data, 'machines', machine.id, 'qemu.pid'), 'utf8'));
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  const free = (await api('POST', `/v1/apps/bench/machines/${machine.id}/exec`, { command: ['free', '-k'] })).body.stdout as string;
  const guestUsedKb = Number(/Mem:\s+\d+\s+(\d+)/.exec(free)?.[1]);
  report('QEMU resident memory, 256 MB guest', `${(rssKb / 1024).toFixed(0)} MB`, `(guest uses ${(guestUsedKb / 1024).toFixed(0)} MB; beyond it: ${((rssKb - guestUsedKb) / 1024).toFixed(0)} MB)`);

  const coldStart: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    await api('POST', `/v1/apps/bench/machines/${machine.id}/stop`);
    await api('GET', `/v1/apps/bench/machines/${machine.id}/wait?state=stopped&timeout=60`);
    const t0 = performance.now();
    await api('POST', `/v1/apps/bench/machines/${machine.id}/start`);
    coldStart.push((await firstAnswer(machine.private_ip)) - t0);
  }
  report('cold start: POST start → first HTTP answer', fmt(coldStart));
  await api('POST', `/v1/apps/bench/machines/${machine.id}/stop`);
  await api('GET', `/v1/apps/bench/machines/${machine.id}/wait?state=stopped&timeout=60`);

  // The floor: the same files booted by QEMU directly, on a TAP in the same namespace (hangar's network
  // checks are off for this run: they would remove a TAP that no machine of hangar's owns).
  const files2 = join(data, 'machines', machine.id);
  const base = JSON.parse(readFileSync(join(files2, 'prepared.json'), 'utf8')).rootfsPath as string;
  const floorDir = join(dir, 'floor');
  execFileSync('mkdir', ['-p', floorDir]);
  const tap = tapName(machine.id);
  const floor: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    await runCommands(machineLinkSetup(serverNetworkLayout(join(dir, 'data'), netns), { machineId: machine.id, privateIp: machine.private_ip, privateIpv4: machine.private_ipv4 }));
    rmSync(join(floorDir, 'rootfs.qcow2'), { force: true });
    const t0 = performance.now();
    execFileSync('qemu-img', overlayArgv(base, join(floorDir, 'rootfs.qcow2')));
    const layout = testVmLayout(floorDir, guestAssets(ROOT), {
      rootDisk: { path: join(floorDir, 'rootfs.qcow2'), format: 'qcow2' }, disks: [],
      initrdPath: join(files2, 'initrd.img'), tap: { ifname: tap, mac: guestMac(machine.id) },
    });
    const qemu = spawn('ip', ['netns', 'exec', netns, 'qemu-system-x86_64', ...qemuArgv(layout)], { stdio: 'ignore' });
    floor.push((await firstAnswer(machine.private_ip)) - t0);
    qemu.kill('SIGKILL');
    await new Promise((resolve) => qemu.once('exit', resolve));
    await runCommands(machineLinkTeardown(serverNetworkLayout(join(dir, 'data'), netns), machine.id, machine.private_ip, false));
  }
  report('floor: bare QEMU, same files → first HTTP answer', fmt(floor));
  report('cold start ratio to the floor (p50)', `${(summarize(coldStart).p50 / summarize(floor).p50).toFixed(2)}×`);

  await api('DELETE', `/v1/apps/bench/machines/${machine.id}?force=true`);
  await api('DELETE', `/v1/apps/bench/machines/${warm.id}?force=true`);
  await server.stop();
  printTable();
} finally {
  try { execFileSync('pkill', ['-KILL', '-f', join(dir, 'data', 'machines')], { stdio: 'ignore' }); } catch { /* none */ }
  await removeNamespace(netns);
  await registry.stop();
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}
