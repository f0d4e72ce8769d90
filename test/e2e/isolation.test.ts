/**
 * Machines of different apps cannot reach each other; machines of one app can,
 * and the host reaches all of them. Three real microVMs on hangar's namespace.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { privateIp } from '../../src/domain/address.ts';
import { normalizeConfig } from '../../src/domain/config.ts';
import { parseImageRef } from '../../src/domain/image-ref.ts';
import type { MachineSpec } from '../../src/domain/runtime.ts';
import { guestAssets } from '../../src/guest/initramfs.ts';
import { ImageStore } from '../../src/image/image-store.ts';
import type { NetworkKeeper } from '../../src/network/keeper.ts';
import { chooseAccelerator, tscKhzFromCpuinfo } from '../../src/vmm/qemu/argv.ts';
import { QemuDriver } from '../../src/vmm/qemu/qemu-driver.ts';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.ts';
import { textWhenUp } from '../helpers/http.ts';
import { ROOT } from '../helpers/server-process.ts';
import { busyboxLayer } from '../helpers/image-build.ts';
import { openTestNetwork, removeNamespace } from '../helpers/network.ts';

describe('isolation between apps', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-iso-'));
  const suffix = Math.random().toString(16).slice(2, 6);
  const ns = `hangar-iso-${suffix}`;
  let network: NetworkKeeper;
  let registry: Registry;
  let image: string;

  before(async () => {
    registry = await startRegistry();
    const files = busyboxLayer(['sh', 'httpd', 'nc', 'printf', 'echo', 'ip']);
    await pushImage(registry.host, 'iso/web', '1', [{ compression: 'gzip', files }], {
      config: { Cmd: ['/bin/sh', '-c', 'echo "$FLY_APP_NAME/$FLY_MACHINE_ID" > /index.html && exec httpd -f -p 8080 -h /'], Env: ['PATH=/bin'] },
    });
    image = `${registry.host}/iso/web:1`;
    network = await openTestNetwork(ns);
  });

  after(async () => {
    await removeNamespace(ns);
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets a machine reach its own app\'s machines only', async () => {
    const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
    const driver = new QemuDriver({
      machinesDir: join(dir, 'machines'), images: new ImageStore(join(dir, 'images')), assets: guestAssets(ROOT),
      accel: chooseAccelerator(cpuinfo, existsSync('/dev/kvm')), tscKhz: tscKhzFromCpuinfo(cpuinfo), network,
    });
    const spec = (app: string, net: number, n: number): MachineSpec => ({
      machineId: `${suffix}${app}${n}`.padEnd(14, '0').slice(0, 14), appName: app, name: `${app}-${n}`, region: 'local',
      version: '01JISOLATION00000000000000', config: normalizeConfig({ image, restart: { policy: 'no' } }),
      imageRef: parseImageRef(image), privateIp: privateIp(net, network.layout.hostNumber, n),
    });
    const a1 = spec('a', 0x7e59, 1);
    const a2 = spec('a', 0x7e59, 2);
    const b1 = spec('b', 0x7e5a, 1);
    try {
      for (const s of [a1, a2, b1]) await driver.prepare(s);
      await Promise.all([a1, a2, b1].map((s) => driver.launch(s, { resume: false })));
      const fromHost = (s: MachineSpec) => textWhenUp(`http://[${s.privateIp}]:8080/index.html`, { timeoutMs: 500 });
      for (const s of [a1, a2, b1]) assert.equal(await fromHost(s), `${s.appName}/${s.machineId}\n`);
      // busybox wget crashes in a rootfs without NSS (static glibc); nc takes a numeric address as is.
      const fromA1 = (target: MachineSpec) => driver.exec(a1.machineId, {
        command: ['sh', '-c', `printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${target.privateIp} 8080`], timeoutMs: 10_000,
      });
      const same = await fromA1(a2);
      if (!same.stdout.endsWith(`a/${a2.machineId}\n`)) {
        const ruleset = execFileSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'ruleset']).toString();
        const routes = execFileSync('ip', ['-n', ns, '-6', 'route']).toString();
        const guest = await driver.exec(a1.machineId, { command: ['sh', '-c', 'ip -6 addr; ip -6 route'], timeoutMs: 5000 });
        assert.fail(`same app unreachable: ${JSON.stringify(same)}\nruleset:\n${ruleset}\nroutes:\n${routes}\nguest:\n${guest.stdout}${guest.stderr}`);
      }
      const other = await fromA1(b1);
      assert.equal(other.stdout, '', `a machine of another app is unreachable: ${JSON.stringify(other)}`);
      assert.match(same.stdout, /^HTTP\/1\.[01] 200 OK/);
    } finally {
      for (const s of [a1, a2, b1]) await driver.destroy(s.machineId).catch(() => undefined);
      await driver.close();
    }
  });
});
