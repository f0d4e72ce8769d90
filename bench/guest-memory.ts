/**
 * Host memory per idle machine: 256 MB busybox-httpd machines booted by
 * the QEMU driver itself, in two variants in the same run:
 *
 * - before: QEMU's defaults as hangar used them until now (no free page reporting,
 *   TCG's 1 GiB translated-code buffer);
 * - now: free page reporting on, TCG's buffer at DEFAULT_TCG_BUFFER_MB.
 *
 * Machines are added up to each count in BENCH_COUNTS (default 1,16,64); once each
 * count runs, and has idled BENCH_SETTLE_S (default 30), it prints per machine: the
 * drop in the host's MemAvailable since before the first boot, QEMU's PSS (its own
 * memory, TCG's buffer and the guest RAM it touched, shared pages split), the part
 * of that in the RAM file, and what the guest itself says it uses (MemTotal −
 * MemAvailable, of a sample of 4). Also the boot time (launch → main process runs)
 * and a guest CPU loop, to see that a smaller TCG buffer does not slow guests.
 * BENCH_VARIANTS (JSON: [{name, freePageReporting, tcgBufferMb, kernelArgs?}]) replaces the two.
 * Prints figures; asserts nothing. Needs root.   node bench/guest-memory.ts
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { privateIp } from '../src/domain/address.ts';
import { normalizeConfig } from '../src/domain/config.ts';
import { parseImageRef } from '../src/domain/image-ref.ts';
import { guestAssets } from '../src/guest/initramfs.ts';
import { ImageStore } from '../src/image/image-store.ts';
import { chooseAccelerator, tscKhzFromCpuinfo } from '../src/vmm/qemu/argv.ts';
import { QemuDriver } from '../src/vmm/qemu/qemu-driver.ts';
import { DEFAULT_TCG_BUFFER_MB } from '../src/vmm/qemu/vm-host.ts';
import type { MachineSpec } from '../src/vmm/driver.ts';
import { busyboxLayer } from '../test/helpers/image-build.ts';
import { openTestNetwork, removeNamespace } from '../test/helpers/network.ts';
import { pushImage, startRegistry } from '../test/helpers/registry.ts';
import { ROOT } from '../test/helpers/server-process.ts';
import { figureTable, formatTimes, machineFacts, memAvailable, pssOf } from './lib.ts';

const COUNTS = (process.env.BENCH_COUNTS ?? '1,16,64').split(',').map(Number);
const SETTLE_S = Number(process.env.BENCH_SETTLE_S ?? 30);
const MB = 1 << 20;
const { report, printTable } = figureTable();
/** CPU time (user + system) a process has used, in ms. */
const cpuMs = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
const avg = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
const mb = (bytes: number) => `${(bytes / MB).toFixed(0)} MB`;

console.log(`machine: ${machineFacts()}`);
const dir = mkdtempSync(join(tmpdir(), 'hangar-guest-memory-'));
const ns = `hgr-gm-${Math.random().toString(16).slice(2, 6)}`;
const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
const registry = await startRegistry();
const network = await openTestNetwork(ns);
try {
  await pushImage(registry.host, 'mem/app', '1', [{ compression: 'gzip', files: busyboxLayer(['sh', 'mkdir', 'echo', 'httpd', 'cat']) }], {
    config: { Cmd: ['/bin/sh', '-c', 'mkdir -p /www; echo up > /www/index.html; exec httpd -f -p 8080 -h /www'], Env: ['PATH=/bin'] },
  });
  const image = `${registry.host}/mem/app:1`;
  const variants: Array<{ name: string; freePageReporting: boolean; tcgBufferMb: number; kernelArgs?: string[] }> = process.env.BENCH_VARIANTS
    ? JSON.parse(process.env.BENCH_VARIANTS)
    : [
      { name: 'before', freePageReporting: false, tcgBufferMb: 0 },
      { name: 'now', freePageReporting: true, tcgBufferMb: DEFAULT_TCG_BUFFER_MB },
    ];
  for (const variant of variants) {
    const machinesDir = join(dir, variant.name);
    const driver = new QemuDriver({
      machinesDir, images: new ImageStore(join(dir, 'images')), assets: guestAssets(ROOT), network,
      accel: chooseAccelerator(cpuinfo, existsSync('/dev/kvm')), tscKhz: tscKhzFromCpuinfo(cpuinfo),
      freePageReporting: variant.freePageReporting, tcgBufferMb: variant.tcgBufferMb,
    });
    const spec = (n: number): MachineSpec => ({
      // The TAP is named after the id's first 12 characters: they must differ per machine.
      machineId: `${n.toString(16).padStart(4, '0')}${(variants.indexOf(variant) + 10).toString(16)}000000000`, appName: 'mem', name: `m${n}`, region: 'local', version: '01JMEMORY00000000000000000',
      config: normalizeConfig({ image, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256, kernel_args: variant.kernelArgs }, restart: { policy: 'no' } }), imageRef: parseImageRef(image),
      privateIp: privateIp(0x6d, network.layout.hostNumber, n + 2),
    });
    await driver.prepare(spec(0));
    const before = memAvailable();
    const booted: Array<{ spec: MachineSpec; pid: number }> = [];
    const bootMs: number[] = [];
    for (const count of COUNTS) {
      while (booted.length < count) {
        const s = spec(booted.length);
        const started = performance.now();
        const result = await driver.launch(s, { resume: false });
        bootMs.push(performance.now() - started);
        booted.push({ spec: s, pid: result.pid ?? 0 });
      }
      const cpuBefore = booted.map((m) => cpuMs(m.pid));
      await sleep(SETTLE_S * 1000);
      const idleCpu = avg(booted.map((m, i) => cpuMs(m.pid) - cpuBefore[i]!)) / (SETTLE_S * 10);
      const pssBytes = booted.map((m) => pssOf(m.pid));
      const ramFile = booted.map((m) => statSync(driver.files(m.spec.machineId).liveMemory).blocks * 512);
      const sample = booted.slice(0, 4);
      const guestUsed: number[] = [];
      for (const m of sample) {
        const info = (await driver.exec(m.spec.machineId, { command: ['cat', '/proc/meminfo'], timeoutMs: 30_000 })).stdout;
        const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(info)?.[1]) * 1024;
        guestUsed.push(field('MemTotal') - field('MemAvailable'));
      }
      report(`${variant.name}: ${count} idle machine(s), host memory per machine`,
        `${mb((before - memAvailable()) / count)} (MemAvailable drop)`,
        `QEMU PSS ${mb(avg(pssBytes))}, of which RAM file ${mb(avg(ramFile))}; guest says it uses ${mb(avg(guestUsed))}; idle QEMU uses ${idleCpu.toFixed(1)} % of a CPU`);
    }
    report(`${variant.name}: boot, launch → process runs`, formatTimes(bootMs));
    // What a standby VMM (standby.ts) costs while it waits: suspend one machine, read its standby, resume.
    const first = booted[0]!;
    await driver.suspend(first.spec.machineId);
    await sleep(3000);
    const standbyPid = Number(readFileSync(driver.files(first.spec.machineId).pidFile, 'utf8'));
    const status = readFileSync(`/proc/${standbyPid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1]) * 1024;
    report(`${variant.name}: a standby QEMU while it waits`, `${mb(pssOf(standbyPid))} PSS`,
      `RssAnon ${mb(kb('RssAnon'))}, RssShmem ${mb(kb('RssShmem'))} (the suspended RAM, not its own), CPU ${cpuMs(standbyPid).toFixed(0)} ms since it started`);
    first.pid = (await driver.launch(first.spec, { resume: true })).pid ?? 0;
    const loop = [];
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      await driver.exec(booted[0]!.spec.machineId, { command: ['sh', '-c', 'i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done'], timeoutMs: 120_000 });
      loop.push(performance.now() - started);
    }
    report(`${variant.name}: guest CPU loop (30000 shell iterations) with ${booted.length} running`, formatTimes(loop));
    for (const m of booted) await driver.destroy(m.spec.machineId);
    await driver.close();
  }
} finally {
  try { execFileSync('pkill', ['-KILL', '-f', dir], { stdio: 'ignore' }); } catch { /* none left */ }
  await removeNamespace(ns);
  await registry.stop();
  rmSync(dir, { recursive: true, force: true });
}
printTable();
