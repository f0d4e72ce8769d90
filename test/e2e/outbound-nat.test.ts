/**
 * Outbound NAT is off unless turned on. "The outside world" here is a namespace
 * this test creates (198.51.100.0/24, a documentation range, routed to it from the
 * host), so no packet of this test leaves the host's own namespaces.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
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
import { runCommands } from '../../src/network/host-network.ts';
import type { NetworkKeeper } from '../../src/network/keeper.ts';
import { chooseAccelerator, tscKhzFromCpuinfo } from '../../src/vmm/qemu/argv.ts';
import { QemuDriver } from '../../src/vmm/qemu/qemu-driver.ts';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.ts';
import { ROOT } from '../helpers/server-process.ts';
import { busyboxLayer } from '../helpers/image-build.ts';
import { openTestNetwork, removeNamespace } from '../helpers/network.ts';

const OUTSIDE_HOST = '198.51.100.1';
const OUTSIDE_SERVER = '198.51.100.7';

describe('outbound NAT', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-nat-'));
  const suffix = Math.random().toString(16).slice(2, 6);
  const ns = `hangar-nat-${suffix}`;
  let network: NetworkKeeper;
  const outside = { ns: `hangar-out-${suffix}`, hostVeth: `hgo-${suffix}` };
  const forwarding = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
  let registry: Registry;
  let image: string;
  let server: ChildProcess | undefined;

  before(async () => {
    registry = await startRegistry();
    const files = busyboxLayer(['sh', 'nc', 'sleep', 'ip']);
    await pushImage(registry.host, 'nat/idle', '1', [{ compression: 'gzip', files }], { config: { Cmd: ['/bin/sleep', '3600'], Env: ['PATH=/bin'] } });
    image = `${registry.host}/nat/idle:1`;
    network = await openTestNetwork(ns);
    // The stand-in for the outside world: a namespace holding 198.51.100.7, whose server answers with the address it sees.
    await runCommands([
      ['ip', 'netns', 'add', outside.ns],
      ['ip', 'link', 'add', outside.hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside.ns],
      ['ip', 'addr', 'add', `${OUTSIDE_HOST}/24`, 'dev', outside.hostVeth],
      ['ip', 'link', 'set', outside.hostVeth, 'up'],
      ['ip', '-n', outside.ns, 'addr', 'add', `${OUTSIDE_SERVER}/24`, 'dev', 'eth0'],
      ['ip', '-n', outside.ns, 'link', 'set', 'eth0', 'up'],
    ]);
    const route = execFileSync('ip', ['route', 'get', OUTSIDE_SERVER]).toString();
    assert.match(route, new RegExp(`dev ${outside.hostVeth} `), 'the test address must route into the test namespace');
    server = spawn('ip', ['netns', 'exec', outside.ns, process.execPath, '-e',
      `require('node:net').createServer((s) => s.end(s.remoteAddress + '\\n')).listen(8081, '${OUTSIDE_SERVER}')`], { stdio: 'ignore' });
  });

  after(async () => {
    server?.kill('SIGKILL');
    await network?.setOutboundNat(false).catch(() => undefined);
    await runCommands([['ip', 'link', 'del', outside.hostVeth], ['ip', 'netns', 'del', outside.ns]], { tolerant: true });
    await removeNamespace(ns);
    await runCommands([['sysctl', '-q', '-w', `net.ipv4.ip_forward=${forwarding}`]]);
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps machines in unless turned on, then masquerades their IPv4 traffic as the host', async () => {
    const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
    const driver = new QemuDriver({
      machinesDir: join(dir, 'machines'), images: new ImageStore(join(dir, 'images')), assets: guestAssets(ROOT),
      accel: chooseAccelerator(cpuinfo, existsSync('/dev/kvm')), tscKhz: tscKhzFromCpuinfo(cpuinfo), network,
    });
    const spec: MachineSpec = {
      machineId: `${suffix}0a7000000000`.slice(0, 14), appName: 'nat', name: 'nat-1', region: 'local',
      version: '01JNAT0000000000000000000', config: normalizeConfig({ image, restart: { policy: 'no' } }),
      imageRef: parseImageRef(image), privateIp: privateIp(0x7e5b, network.layout.hostNumber, 1),
    };
    const reachOut = () => driver.exec(spec.machineId, { command: ['sh', '-c', `nc -w 3 ${OUTSIDE_SERVER} 8081 </dev/null`], timeoutMs: 10_000 });
    try {
      await driver.prepare(spec);
      await driver.launch(spec, { resume: false });
      const env = await driver.exec(spec.machineId, { command: ['sh', '-c', 'echo $HANGAR_PRIVATE_IPV4; ip -4 addr show dev eth0'], timeoutMs: 5000 });
      const ipv4 = network.guestAddresses(spec).ipv4;
      assert.match(env.stdout, new RegExp(`^${ipv4}\\n[\\s\\S]*inet ${ipv4}/32`));

      assert.equal(execFileSync('ip', ['-n', ns, 'route', 'show', 'default']).toString(), '', 'no way out while NAT is off');
      assert.equal((await reachOut()).stdout, '');

      await network.setOutboundNat(true);
      assert.equal((await reachOut()).stdout, `${OUTSIDE_HOST}\n`, 'the outside sees the host\'s address, not the machine\'s');

      await network.setOutboundNat(false);
      assert.equal((await reachOut()).stdout, '');
    } finally {
      await driver.destroy(spec.machineId).catch(() => undefined);
      await driver.close();
    }
  });
});
