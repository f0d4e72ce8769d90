/**
 * The qemu driver on real microVMs: an image pushed to a loopback registry is
 * prepared, booted on a routed TAP in a test namespace, reached over HTTP from
 * the host, exec'd into, stopped with its exit code, booted again on a blank
 * rootfs, reports an exit nobody asked for, and is destroyed without a trace.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { normalizeConfig } from '../../src/domain/config.ts';
import { privateIp } from '../../src/domain/address.ts';
import { parseImageRef } from '../../src/domain/image-ref.ts';
import type { MachineSpec } from '../../src/domain/runtime.ts';
import { guestAssets } from '../../src/guest/initramfs.ts';
import { ImageStore } from '../../src/image/image-store.ts';
import type { NetworkKeeper } from '../../src/network/keeper.ts';
import { tapName } from '../../src/network/plan.ts';
import { chooseAccelerator, tscKhzFromCpuinfo } from '../../src/vmm/qemu/argv.ts';
import { QemuDriver } from '../../src/vmm/qemu/qemu-driver.ts';
import type { ExitInfo } from '../../src/vmm/driver.ts';
import { textWhenUp } from '../helpers/http.ts';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.ts';
import { ROOT } from '../helpers/server-process.ts';
import { busyboxLayer } from '../helpers/image-build.ts';
import { openTestNetwork, removeNamespace } from '../helpers/network.ts';

const BUSYBOX_APPLETS = ['sh', 'cat', 'echo', 'ls', 'sleep', 'httpd', 'kill', 'touch', 'hostname', 'env'];

describe('qemu driver', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-qemu-'));
  const suffix = Math.random().toString(16).slice(2, 6);
  const ns = `hangar-drv-${suffix}`;
  let network: NetworkKeeper;
  let registry: Registry;
  let image: string;

  before(async () => {
    registry = await startRegistry();
    const files = busyboxLayer(BUSYBOX_APPLETS, { '/www/index.html': { mode: 0o644, content: 'served by the image\n' } });
    await pushImage(registry.host, 'test/web', '1', [{ compression: 'gzip', files }], {
      config: { Entrypoint: ['/bin/httpd', '-f', '-p', '8080'], Cmd: ['-h', '/www'], Env: ['PATH=/bin'] },
    });
    image = `${registry.host}/test/web:1`;
    network = await openTestNetwork(ns);
  });

  after(async () => {
    await removeNamespace(ns);
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a machine from an image through its whole life', async () => {
    const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
    const accel = chooseAccelerator(cpuinfo, existsSync('/dev/kvm'));
    const driver = new QemuDriver({
      machinesDir: join(dir, 'machines'), images: new ImageStore(join(dir, 'images')), assets: guestAssets(ROOT),
      accel, tscKhz: tscKhzFromCpuinfo(cpuinfo), network,
    });
    const exits: Array<[string, ExitInfo]> = [];
    driver.onExit((id, exit) => exits.push([id, exit]));
    const machineId = `d0${suffix}0123456789`.slice(0, 14);
    const spec: MachineSpec = {
      machineId, appName: 'web', name: 'web-1', region: 'local', version: '01JTESTVERSION000000000000',
      config: normalizeConfig({ image, env: { GREETING: 'hi' }, restart: { policy: 'no' } }),
      imageRef: parseImageRef(image), privateIp: privateIp(0x7e58, network.layout.hostNumber, 1),
    };
    try {
      const { imageRef } = await driver.prepare(spec);
      assert.match(imageRef.digest, /^sha256:/);
      await driver.launch(spec, { resume: false });

      // `started` means the process runs; the server may need a moment to listen.
      assert.equal(await textWhenUp(`http://[${spec.privateIp}]:8080/`), 'served by the image\n');
      const env = await driver.exec(machineId, { command: ['env'], timeoutMs: 5000 });
      assert.match(env.stdout, /^GREETING=hi$/m);
      assert.match(env.stdout, new RegExp(`^FLY_MACHINE_ID=${machineId}$`, 'm'));
      assert.match(env.stdout, /^HANGAR_APP_NAME=web$/m);
      assert.equal((await driver.exec(machineId, { command: ['touch', '/scratch'], timeoutMs: 5000 })).exit_code, 0);
      assert.ok((await driver.ps(machineId)).some((p) => p.command.startsWith('/bin/httpd -f -p 8080 -h /www')));

      const exit = await driver.stop(machineId, 'SIGTERM', 5000);
      assert.equal(exit?.signal, 15, 'httpd ends by the SIGTERM it was sent');
      assert.equal(exits.length, 0, 'a requested stop is not reported as an unrequested exit');
      assert.equal(existsSync(`/sys/class/net/${tapName(machineId)}`), false);

      const { pid } = await driver.launch(spec, { resume: false });
      const ls = await driver.exec(machineId, { command: ['ls', '/scratch'], timeoutMs: 5000 });
      assert.notEqual(ls.exit_code, 0, 'a cold boot starts from a blank rootfs');

      await driver.signal(machineId, { signal: 'SIGKILL' });
      for (let i = 0; i < 200 && exits.length === 0; i++) await sleep(50);
      assert.deepEqual(exits, [[machineId, { exitCode: 137, oomKilled: false, signal: 9, pid }]], 'the exit names the VM it is about');

      await driver.destroy(machineId);
      assert.equal(existsSync(join(dir, 'machines', machineId)), false);
      assert.throws(() => execFileSync('pgrep', ['-f', `qemu-system.*machines/${machineId}/`], { stdio: 'pipe' }), 'no QEMU process is left');
    } catch (error) {
      const consoleLog = join(dir, 'machines', machineId, 'console.log');
      if (existsSync(consoleLog)) (error as Error).message += `\nconsole:\n${readFileSync(consoleLog, 'utf8')}`;
      throw error;
    } finally {
      await driver.destroy(machineId).catch(() => undefined);
      await driver.close();
    }
  });
});
