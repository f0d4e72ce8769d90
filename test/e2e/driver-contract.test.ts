/**
 * The QEMU driver passes the VMM driver contract (test/helpers/driver-contract.ts)
 * on real microVMs, the same cases the fake driver passes
 * (test/unit/fake-driver-contract.test.ts): an image from a loopback registry,
 * a test namespace of its own, a driver opened again over the running VMs.
 */
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { privateIp } from '../../src/domain/address.ts';
import { normalizeConfig } from '../../src/domain/config.ts';
import { parseImageRef } from '../../src/domain/image-ref.ts';
import { guestAssets } from '../../src/guest/initramfs.ts';
import { ImageStore } from '../../src/image/image-store.ts';
import type { NetworkKeeper } from '../../src/network/keeper.ts';
import { chooseAccelerator, tscKhzFromCpuinfo } from '../../src/vmm/qemu/argv.ts';
import { defaultMemoryDir } from '../../src/vmm/qemu/machine-files.ts';
import { QemuDriver } from '../../src/vmm/qemu/qemu-driver.ts';
import { isIncoming } from '../../src/vmm/qemu/vm-process.ts';
import type { MachineSpec } from '../../src/vmm/driver.ts';
import { driverContract } from '../helpers/driver-contract.ts';
import { qemuOf, tapExists } from '../helpers/host-traces.ts';
import { copyPacked } from '../helpers/packed-files.ts';
import { busyboxLayer } from '../helpers/image-build.ts';
import { openTestNetwork, removeNamespace } from '../helpers/network.ts';
import { pushImage, type Registry, startRegistry } from '../helpers/registry.ts';
import { ROOT } from '../helpers/server-process.ts';

const APPLETS = ['sh', 'echo', 'false', 'touch', 'ls', 'sleep', 'httpd'];

describe('qemu driver: the VMM driver contract', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-contract-'));
  const ns = `hangar-ctr-${Math.random().toString(16).slice(2, 6)}`;
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  let network: NetworkKeeper;
  let registry: Registry;
  let image = '';

  before(async () => {
    registry = await startRegistry();
    await pushImage(registry.host, 'test/contract', '1', [{ compression: 'gzip', files: busyboxLayer(APPLETS) }], {
      config: { Entrypoint: ['/bin/httpd', '-f', '-p', '8080'], Env: ['PATH=/bin'] },
    });
    image = `${registry.host}/test/contract:1`;
    network = await openTestNetwork(ns);
  });

  after(async () => {
    // Whatever a failed case left running is ended: VMs outlive their driver by design.
    for (const machines of [join(dir, 'machines'), join(dir, 'other-host', 'machines')]) {
      try { execFileSync('pkill', ['-KILL', '-f', machines], { stdio: 'ignore' }); } catch { /* none left */ }
    }
    await removeNamespace(ns);
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const driverIn = (hostDir: string) => new QemuDriver({
    machinesDir: join(hostDir, 'machines'), images: new ImageStore(join(hostDir, 'images')), assets: guestAssets(ROOT),
    accel: chooseAccelerator(cpuinfo, existsSync('/dev/kvm')), tscKhz: tscKhzFromCpuinfo(cpuinfo), network,
  });
  const spec = (machineId: string): MachineSpec => ({
    machineId, appName: 'contract', name: `m-${machineId}`, region: 'local', version: '01JCONTRACT000000000000000',
    config: normalizeConfig({ image, restart: { policy: 'no' } }), imageRef: parseImageRef(image),
    privateIp: privateIp(0x7e59, network.layout.hostNumber, Number.parseInt(machineId.slice(2, 4), 16)),
  });
  driverContract({
    open: () => driverIn(dir),
    // Another data directory: its own machines, images and RAM (the network is this host's).
    openOtherHost: () => driverIn(join(dir, 'other-host')),
    spec,
    get missingImage() { return `${registry.host}/test/no-such-image:1`; },
    leftovers: (machineId) => {
      const left: string[] = [];
      if (existsSync(join(dir, 'machines', machineId))) left.push('its directory');
      if (existsSync(join(`${defaultMemoryDir(join(dir, 'machines'))}.forks`, `${machineId}.ram`))) left.push('a fork\'s RAM');
      if (qemuOf(machineId)) left.push('a QEMU process');
      if (tapExists(ns, machineId)) left.push('its TAP');
      return left;
    },
  }, 'ec');

  it('readies a snapshot carried here, once the machine is this host\'s, as a suspend here does: its RAM in memory, a QEMU waiting that the start takes', async () => {
    const [taken, dropped] = ['ed010000000000', 'ed020000000000'];
    const here = driverIn(dir);
    const there = driverIn(join(dir, 'other-host'));
    const inbox = mkdtempSync(join(tmpdir(), 'hangar-standby-inbox-'));
    const carry = async (machineId: string): Promise<void> => {
      await here.launch(spec(machineId), { resume: false });
      await here.suspend(machineId);
      const received = await copyPacked(await here.packSnapshot(machineId), inbox, `${machineId}-`);
      await here.destroy(machineId);
      await there.unpackSnapshot(spec(machineId), received);
    };
    const thereDir = (machineId: string) => join(dir, 'other-host', 'machines', machineId);
    const ramInMemory = (machineId: string) => join(defaultMemoryDir(join(dir, 'other-host', 'machines')), `${machineId}.ram`);
    /** The QEMU waiting for the machine's state, once it does. */
    const standby = async (machineId: string): Promise<number> => {
      for (let i = 0; i < 400; i++) {
        const pidFile = join(thereDir(machineId), 'qemu.pid');
        const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim() || 0) : 0;
        if (existsSync(join(thereDir(machineId), 'standby.pid')) && pid > 0 && isIncoming(pid)) return pid;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`no QEMU waits for machine ${machineId}'s state`);
    };
    try {
      await carry(taken);
      assert.equal(qemuOf(taken), '', 'taken in, it has no QEMU here until its move commits');
      await there.readyToResume(spec(taken));
      const waiting = await standby(taken);
      assert.ok(existsSync(ramInMemory(taken)), 'its RAM is in memory');
      const resumed = await there.launch(spec(taken), { resume: true });
      assert.equal(resumed.resumed, true, resumed.coldBootReason);
      assert.equal(resumed.pid, waiting, 'the start took the QEMU that waited');
      await there.destroy(taken);

      // Destroyed before its start: the host lets go of both.
      await carry(dropped);
      await there.readyToResume(spec(dropped));
      const unwanted = await standby(dropped);
      await there.destroy(dropped);
      assert.ok(!isIncoming(unwanted) && qemuOf(dropped) === '', 'the waiting QEMU ended');
      assert.ok(!existsSync(ramInMemory(dropped)), 'its RAM left memory');
    } finally {
      await there.close();
      await here.close();
      rmSync(inbox, { recursive: true, force: true });
    }
  });
});
