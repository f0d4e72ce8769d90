/**
 * Suspend/resume benchmark, side by side in one run for 256 MB and 1 GB
 * guests. The app takes a few seconds to initialise (awk builds a table in guest
 * memory, /dev/shm) before its HTTP server listens, so a cold start pays for it
 * and a resume does not.
 *
 * - hangar: `hangar serve --driver qemu` through its API. Suspend: POST suspend →
 *   `wait?state=suspended` answers. Resume: POST start → the app answers HTTP.
 *   Cold start: POST start of a stopped machine → the app answers.
 * - floor: the same kernel, initramfs and rootfs driven by QEMU directly over QMP,
 *   with the same shared-file RAM: `stop` + migrate (x-ignore-shared) to a file +
 *   `quit`; resume = new QEMU `-incoming defer` + migrate-incoming + `cont` → the
 *   app answers; cold boot → the app answers.
 *
 * Each resume comes BENCH_IDLE_MS (default 1000) after its suspend, on both sides: a
 * machine the proxy put to sleep is woken by a later request, and hangar's standby
 * VMM (standby.ts) is started in that time. BENCH_IDLE_MS=0 resumes at once.
 *
 * Prints figures; asserts nothing. Needs root.   node bench/suspend.ts  (BENCH_RUNS, default 5)
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { guestAssets } from '../src/guest/initramfs.ts';
import { runCommands } from '../src/network/host-network.ts';
import { guestMac, machineLinkSetup, machineLinkTeardown, tapName } from '../src/network/plan.ts';
import { removeNamespace, serverNetworkLayout } from '../test/helpers/network.ts';
import { qemuArgv, type VmLayout } from '../src/vmm/qemu/argv.ts';
import { overlayArgv } from '../src/vmm/qemu/machine-files.ts';
import { QmpClient } from '../src/vmm/qemu/qmp.ts';
import { DEFAULT_TCG_BUFFER_MB } from '../src/vmm/qemu/vm-host.ts';
import { pushImage, startRegistry } from '../test/helpers/registry.ts';
import { request, ROOT, startServerProcess } from '../test/helpers/server-process.ts';
import { testVmLayout } from '../test/helpers/vm.ts';
import { answered, figureTable, formatTimes, machineFacts, summarize } from './lib.ts';
import { busyboxLayer } from '../test/helpers/image-build.ts';

const appUrl = (ip: string) => `http://[${ip}]:8080/`;

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const COLD_RUNS = Number(process.env.BENCH_COLD_RUNS ?? 3);
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 1000);
const SIZES = (process.env.BENCH_SIZES ?? '256,1024').split(',').map(Number);
/** Rows of the table the app builds before it listens (a few seconds under TCG). */
const TABLE_ROWS = Number(process.env.BENCH_TABLE_ROWS ?? 150_000);
const APP = `awk 'BEGIN { for (i = 0; i < ${TABLE_ROWS}; i++) t[i] = i * i; for (i = 0; i < ${TABLE_ROWS}; i++) print i, t[i] > "/dev/shm/table" }'; `
  + 'echo ready > /www/index.html; exec httpd -f -p 8080 -h /www';

const dir = mkdtempSync(join(tmpdir(), 'hangar-bench-suspend-'));
const netns = `hgr-bsus-${Math.random().toString(16).slice(2, 6)}`;
const registry = await startRegistry();
const { report, printTable } = figureTable();
const fmt = formatTimes;
const p50 = (values: number[]) => summarize(values).p50;

async function qmpWhenUp(socket: string): Promise<QmpClient> {
  for (let i = 0; i < 2000; i++) {
    if (existsSync(socket)) {
      try {
        return await QmpClient.connect(socket);
      } catch { /* not listening yet */ }
    }
    await sleep(2);
  }
  throw new Error('QMP did not come up');
}

async function drainAgent(socket: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (existsSync(socket)) {
      const connected = await new Promise<boolean>((resolve) => {
        const client = connect(socket, () => resolve(true));
        client.on('error', () => resolve(false));
        client.resume();
      });
      if (connected) return;
    }
    await sleep(2);
  }
}

async function migrationDone(qmp: QmpClient): Promise<void> {
  for (;;) {
    const { status } = await qmp.execute('query-migrate', {});
    if (status === 'completed') return;
    if (status === 'failed' || status === 'cancelled') throw new Error(`migration ${status}`);
    await sleep(1);
  }
}

/** The floor for one guest size: QEMU driven directly, on the machine's TAP and files (hangar's network checks are off for this run). */
async function floor(machine: { id: string; private_ip: string; private_ipv4?: string }, initrd: string, base: string, memoryMb: number) {
  const floorDir = join(dir, `floor-${memoryMb}`);
  mkdirSync(floorDir, { recursive: true });
  const tap = tapName(machine.id);
  await runCommands(machineLinkSetup(serverNetworkLayout(join(dir, 'data'), netns), { machineId: machine.id, privateIp: machine.private_ip, privateIpv4: machine.private_ipv4 }));
  const layout: VmLayout = {
    ...testVmLayout(floorDir, guestAssets(ROOT), {
      rootDisk: { path: join(floorDir, 'rootfs.qcow2'), format: 'qcow2' }, disks: [],
      initrdPath: initrd, tap: { ifname: tap, mac: guestMac(machine.id) },
    }),
    memoryMb,
    memoryFile: join(floorDir, 'memory.ram'),
    // The same QEMU settings as hangar's machines: the floor differs only in what hangar does around QEMU.
    freePageReporting: true,
    tcgBufferMb: DEFAULT_TCG_BUFFER_MB,
  };
  const vmstate = join(floorDir, 'vmstate');
  const launch = (incoming: boolean) => {
    rmSync(layout.qmpSocket, { force: true });
    rmSync(layout.agentSocket, { force: true });
    const qemu = spawn('ip', ['netns', 'exec', netns, 'qemu-system-x86_64', ...qemuArgv({ ...layout, incoming })], { stdio: 'ignore' });
    void drainAgent(layout.agentSocket); // hangar-init waits briefly for a listener on its channel; give it one
    return { qemu, exited: new Promise((resolve) => qemu.once('exit', resolve)) };
  };
  const cold: number[] = [];
  let vm: ReturnType<typeof launch> | undefined;
  for (let i = 0; i < COLD_RUNS; i++) {
    if (vm) {
      vm.qemu.kill('SIGKILL');
      await vm.exited;
    }
    rmSync(layout.memoryFile as string, { force: true });
    rmSync(layout.rootDisk.path, { force: true });
    const t0 = performance.now();
    execFileSync('qemu-img', overlayArgv(base, layout.rootDisk.path));
    vm = launch(false);
    cold.push((await answered(appUrl(machine.private_ip))) - t0);
  }
  let qmp = await qmpWhenUp(layout.qmpSocket);
  const suspend: number[] = [];
  const resume: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
    const t0 = performance.now();
    await qmp.execute('stop', {});
    await qmp.execute('migrate', { uri: `exec:cat > ${vmstate}` });
    await migrationDone(qmp);
    await qmp.execute('quit', {}).catch(() => undefined);
    await vm?.exited;
    suspend.push(performance.now() - t0);
    qmp.close();
    await sleep(IDLE_MS);

    const t1 = performance.now();
    vm = launch(true);
    qmp = await qmpWhenUp(layout.qmpSocket);
    await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
    await qmp.execute('migrate-incoming', { uri: `exec:cat ${vmstate}` });
    await migrationDone(qmp);
    await qmp.execute('cont', {});
    resume.push((await answered(appUrl(machine.private_ip))) - t1);
  }
  qmp.close();
  vm?.qemu.kill('SIGKILL');
  await vm?.exited;
  await runCommands(machineLinkTeardown(serverNetworkLayout(join(dir, 'data'), netns), machine.id, machine.private_ip, false));
  return { cold, suspend, resume };
}

try {
  console.log(`machine: ${machineFacts()}; each resume ${IDLE_MS} ms after its suspend`);
  const files = busyboxLayer(['sh', 'httpd', 'awk', 'echo'], { '/www/.keep': { mode: 0o644, content: Buffer.from('') } });
  await pushImage(registry.host, 'bench/slow', '1', [{ compression: 'gzip', files }], { config: { Cmd: ['/bin/sh', '-c', APP], Env: ['PATH=/bin'] } });
  const image = `${registry.host}/bench/slow:1`;
  const data = join(dir, 'data');
  const server = await startServerProcess(data, 'bench', ['--driver', 'qemu', '--netns', netns, '--network-check-interval', '0']);
  const api = (method: string, path: string, body?: unknown) => request(server, method, path, body);
  await api('POST', '/v1/apps', { name: 'bench' });
  const machines = '/v1/apps/bench/machines';

  for (const memoryMb of SIZES) {
    const machine = (await api('POST', machines, { config: { image, guest: { cpus: 1, memory_mb: memoryMb }, restart: { policy: 'no' } } })).body;
    await api('GET', `${machines}/${machine.id}/wait?state=started&timeout=60`);
    await answered(appUrl(machine.private_ip));
    const suspend: number[] = [];
    const suspendAgent: number[] = [];
    const resume: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      await api('POST', `${machines}/${machine.id}/suspend`);
      await api('GET', `${machines}/${machine.id}/wait?state=suspended&timeout=60`);
      suspend.push(performance.now() - t0);
      const events = (await api('GET', `${machines}/${machine.id}`)).body.events as Array<{ type: string; status: string; timestamp: number }>;
      const asked = events.find((e) => e.type === 'suspend' && e.status === 'suspending');
      const done = events.find((e) => e.type === 'suspend' && e.status === 'suspended');
      if (asked && done) suspendAgent.push(done.timestamp - asked.timestamp);
      await sleep(IDLE_MS);
      const t1 = performance.now();
      await api('POST', `${machines}/${machine.id}/start`);
      resume.push((await answered(appUrl(machine.private_ip))) - t1);
    }
    const cold: number[] = [];
    for (let i = 0; i < COLD_RUNS; i++) {
      await api('POST', `${machines}/${machine.id}/stop`);
      await api('GET', `${machines}/${machine.id}/wait?state=stopped&timeout=60`);
      const t0 = performance.now();
      await api('POST', `${machines}/${machine.id}/start`);
      cold.push((await answered(appUrl(machine.private_ip))) - t0);
    }
    await api('POST', `${machines}/${machine.id}/stop`);
    await api('GET', `${machines}/${machine.id}/wait?state=stopped&timeout=60`);

    const machineDir = join(data, 'machines', machine.id);
    const base = JSON.parse(readFileSync(join(machineDir, 'prepared.json'), 'utf8')).rootfsPath as string;
    const bare = await floor(machine, join(machineDir, 'initrd.img'), base, memoryMb);

    const size = `${memoryMb} MB`;
    report(`${size} suspend, hangar (POST → suspended)`, fmt(suspend), `in order: ${suspend.map((ms) => ms.toFixed(0)).join(', ')} ms`);
    report(`${size} suspend, hangar agent (suspending → suspended events)`, fmt(suspendAgent));
    report(`${size} suspend, floor (stop + save + quit)`, fmt(bare.suspend));
    report(`${size} resume, hangar (POST start → app answers)`, fmt(resume));
    report(`${size} resume, floor (new QEMU + load + cont → app answers)`, fmt(bare.resume));
    report(`${size} cold start, hangar (POST start → app answers)`, fmt(cold));
    report(`${size} cold start, floor (boot → app answers)`, fmt(bare.cold));
    report(`${size} resume ratio hangar / floor (p50)`, `${(p50(resume) / p50(bare.resume)).toFixed(2)}×`, 'target ≤ 1.5×');
    report(`${size} resume as a share of hangar's cold start (p50)`, `${((100 * p50(resume)) / p50(cold)).toFixed(1)} %`, 'target < 5 %');
    await api('DELETE', `${machines}/${machine.id}?force=true`);
  }
  await server.stop();
  printTable();
} finally {
  try { execFileSync('pkill', ['-KILL', '-f', dir], { stdio: 'ignore' }); } catch { /* none */ }
  await removeNamespace(netns);
  await registry.stop();
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}
