/**
 * A machine on hangar's network: a namespace with a veth to the host and a routed
 * TAP for the machine; the guest (hangar-init + busybox httpd) takes its private
 * IPv6 address and its IPv4 one, and the host reaches `http://[private_ip]:8080/` and
 * `http://<ipv4>:8080/`. Only loopback and
 * this test's own namespace see any traffic.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { privateIp } from '../../src/domain/address.ts';
import { machineInitramfs } from '../../src/guest/init-config.ts';
import { baseInitramfs, guestAssets } from '../../src/guest/initramfs.ts';
import { runCommands } from '../../src/network/host-network.ts';
import { guestMac, tapName } from '../../src/network/plan.ts';
import { AgentChannel } from '../../src/vmm/qemu/agent-channel.ts';
import { qemuArgv } from '../../src/vmm/qemu/argv.ts';
import { testVmLayout } from '../helpers/vm.ts';
import { ROOT } from '../helpers/server-process.ts';
import { openTestNetwork, removeNamespace } from '../helpers/network.ts';

describe('machine network', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-net-'));
  const suffix = Math.random().toString(16).slice(2, 6);
  const machineId = `abcd${suffix}00112233`.slice(0, 14);
  const ns = `hangar-test-${suffix}`;
  after(async () => {
    await removeNamespace(ns);
    rmSync(dir, { recursive: true, force: true });
  });

  it('routes from the host to a server in the machine on its private address', async () => {
    const rootDir = join(dir, 'root');
    for (const sub of ['bin', 'etc', 'www']) mkdirSync(join(rootDir, sub), { recursive: true });
    copyFileSync('/bin/busybox', join(rootDir, 'bin/busybox'));
    symlinkSync('busybox', join(rootDir, 'bin/sh'));
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', rootDir, join(dir, 'rootfs.img'), '32M']);

    const network = await openTestNetwork(ns);
    const ip = privateIp(0x7e57, network.layout.hostNumber, 1);
    const guest = network.guestAddresses({ privateIp: ip, privateIpv4: undefined });
    const ipv4 = guest.ipv4;
    const tap = tapName(machineId);
    await network.attach({ machineId, privateIp: ip });

    const assets = guestAssets(ROOT);
    writeFileSync(join(dir, 'initrd.img'), Buffer.concat([baseInitramfs(assets), machineInitramfs({
      hostname: machineId, rootDevice: '/dev/vda', mounts: [],
      net: { ifname: 'eth0', ipv6: `${ip}/128`, gateway6: guest.gateway6, ipv4: `${ipv4}/32`, gateway4: guest.gateway4 },
      env: { PATH: '/bin' },
      argv: ['/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', '/www'],
      files: [{ path: '/www/index.html', mode: 0o644, content: Buffer.from(`hello from ${machineId}\n`) }],
      stop: { signal: 15, timeoutMs: 2000 },
    })]));
    const layout = testVmLayout(dir, assets, {
      rootDisk: { path: join(dir, 'rootfs.img'), format: 'raw' }, disks: [],
      tap: { ifname: tap, mac: guestMac(machineId) },
    });
    // QEMU runs inside the namespace, where the machine's TAP lives.
    const qemu = spawn('ip', ['netns', 'exec', ns, 'qemu-system-x86_64', ...qemuArgv(layout)], { stdio: 'ignore' });
    try {
      for (let i = 0; !existsSync(layout.agentSocket) && i < 200; i++) await sleep(25);
      const agent = await AgentChannel.connect(layout.agentSocket);
      await new Promise((resolve) => agent.once('started', resolve));
      let body = '';
      for (let attempt = 0; attempt < 20 && !body; attempt++) {
        try {
          const response = await fetch(`http://[${ip}]:8080/`, { signal: AbortSignal.timeout(1000) });
          body = await response.text();
        } catch {
          await sleep(200);
        }
      }
      if (!body) {
        const guest = await agent.exec(['/bin/busybox', 'sh', '-c', 'ip -6 addr; ip -6 route; ip link; netstat -ltn'], { timeoutMs: 5000 });
        const inNs = execFileSync('ip', ['-n', ns, '-6', 'route']).toString() + execFileSync('ip', ['-n', ns, '-6', 'neigh']).toString();
        const host = execFileSync('ip', ['-6', 'route', 'get', ip]).toString();
        const console = existsSync(layout.consoleLog) ? readFileSync(layout.consoleLog, 'utf8') : '';
        assert.fail(`no answer from the machine\nguest:\n${guest.stdout}${guest.stderr}\nnamespace:\n${inNs}\nhost:\n${host}\nconsole:\n${console}`);
      }
      assert.equal(body, `hello from ${machineId}\n`);
      const addresses = await agent.exec(['/bin/busybox', 'ip', '-6', 'addr', 'show', 'dev', 'eth0'], { timeoutMs: 5000 });
      assert.match(addresses.stdout, new RegExp(`inet6 fdaa:0:7e57:${network.layout.hostNumber.toString(16)}:0:1:0:2/128 scope global`));
      assert.notEqual(ipv4.split('.').slice(0, 2).join('.'), '172.19', 'a test namespace keeps off the default hangar\'s range');
      const overIpv4 = await fetch(`http://${ipv4}:8080/`, { signal: AbortSignal.timeout(3000) });
      assert.equal(await overIpv4.text(), `hello from ${machineId}\n`);
      const routes = await agent.exec(['/bin/busybox', 'ip', 'route'], { timeoutMs: 5000 });
      assert.match(routes.stdout, new RegExp(`default via ${guest.gateway4.replaceAll('.', '\\.')} dev eth0 onlink`));
      agent.close();
    } finally {
      qemu.kill('SIGKILL');
      await runCommands([['pkill', '-KILL', '-f', layout.qmpSocket]], { tolerant: true });
    }
  });
});
