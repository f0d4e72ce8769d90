/**
 * Each hangar owns its network: a second hangar on another namespace, set up and
 * torn down the way the tests do it, leaves the first one's machines reachable;
 * what someone deletes by hand is repaired within the check period; and a restart
 * brings back a veth, firewall and forwarding that were taken away, and removes a
 * TAP whose machine does not exist. Only loopback and the namespaces these servers
 * create see any traffic.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatIpv4Range, hostVethName, layoutOf, transit } from '../../src/network/layout.ts';
import { readNetworkIdentity } from '../../src/system/data-dir.ts';
import { textWhenUp, until } from '../helpers/http.ts';
import { busyboxLayer } from '../helpers/image-build.ts';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';

describe('network ownership', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-own-'));
  const suffix = Math.random().toString(16).slice(2, 6);
  const a = { data: join(dir, 'a'), netns: `hgr-owna-${suffix}` };
  const b = { data: join(dir, 'b'), netns: `hgr-ownb-${suffix}` };
  let registry: Registry;
  let image: string;
  let serverA: ServerProcess | undefined;
  let serverB: ServerProcess | undefined;

  before(async () => {
    registry = await startRegistry();
    await pushImage(registry.host, 'own/web', '1', [{ compression: 'gzip', files: busyboxLayer(['sh', 'httpd']) }], {
      config: { Cmd: ['/bin/sh', '-c', 'echo "hello from $FLY_MACHINE_ID" > /index.html && exec httpd -f -p 8080 -h /'], Env: ['PATH=/bin'] },
    });
    image = `${registry.host}/own/web:1`;
  });

  after(async () => {
    await cleanUpRealServer(serverB, b.data, b.netns);
    await cleanUpRealServer(serverA, a.data, a.netns);
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' }).toString();

  it('keeps a hangar\'s machines reachable while another hangar comes and goes, and repairs what is broken', async () => {
    const startA = () => startServerProcess(a.data, 'own-a', ['--driver', 'qemu', '--netns', a.netns, '--network-check-interval', '1s']);
    serverA = await startA();
    const api = (method: string, path: string, body?: unknown) => request(serverA as ServerProcess, method, path, body);
    assert.equal((await api('POST', '/v1/apps', { name: 'web' })).status, 201);
    const created = await api('POST', '/v1/apps/web/machines', { config: { image, restart: { policy: 'no' } } });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const id = created.body.id as string;
    assert.equal((await api('GET', `/v1/apps/web/machines/${id}/wait?state=started&timeout=60`)).status, 200);
    const ipv6 = created.body.private_ip as string;
    const ipv4 = ((await api('POST', `/v1/apps/web/machines/${id}/exec`, { command: ['sh', '-c', 'echo $HANGAR_PRIVATE_IPV4'] })).body.stdout as string).trim();
    // The first machine of the host has the first address of its range: the one allocated and recorded with it.
    assert.equal(ipv4, created.body.private_ipv4, 'the guest has the address recorded with its machine');
    assert.equal(`${ipv4}/${readNetworkIdentity(a.data)?.ipv4Range.prefixLength}`, formatIpv4Range(readNetworkIdentity(a.data)!.ipv4Range));
    const hello = `hello from ${id}\n`;
    const reach = async () => [await textWhenUp(`http://[${ipv6}]:8080/index.html`, { attempts: 20 }), await textWhenUp(`http://${ipv4}:8080/index.html`, { attempts: 20 })];
    assert.deepEqual(await reach(), [hello, hello], 'A\'s machine answers on both addresses');

    serverB = await startServerProcess(b.data, 'own-b', ['--driver', 'qemu', '--netns', b.netns]);
    assert.deepEqual(await reach(), [hello, hello], 'while B runs');
    const [ownA, ownB] = [readNetworkIdentity(a.data), readNetworkIdentity(b.data)];
    assert.ok(ownA && ownB);
    assert.notEqual(ownA.hostNumber, ownB.hostNumber, 'distinct host numbers');
    assert.notEqual(formatIpv4Range(ownA.ipv4Range), formatIpv4Range(ownB.ipv4Range), 'distinct IPv4 ranges');
    assert.ok(ownA.hostNumber !== 0xa7b && formatIpv4Range(ownA.ipv4Range) !== '172.19.0.0/16', 'a test namespace keeps off the default hangar\'s ranges');
    await cleanUpRealServer(serverB, b.data, b.netns);
    serverB = undefined;
    assert.deepEqual(await reach(), [hello, hello], 'after B is gone');

    // Drift: the machine's route, the range's route and the transit address deleted by hand come back within the check period.
    const layout = layoutOf(a.netns, ownA.hostNumber, ownA.ipv4Range);
    const veth = hostVethName(a.netns);
    ip('-6', 'route', 'del', `${ipv6}/128`, 'dev', veth);
    ip('route', 'del', formatIpv4Range(layout.ipv4Range), 'dev', veth);
    ip('addr', 'del', `${transit(layout).host6}/64`, 'dev', veth);
    // Each is logged as it is repaired; a check may fall between the deletions, and repair them over two passes.
    const rangeRepaired = new RegExp(`network drift repaired: route ${formatIpv4Range(layout.ipv4Range).replaceAll('.', '\\.')} via`);
    await until(async () => /network drift repaired: route .*\/128/.test(serverA!.output()) && /network drift repaired: address/.test(serverA!.output())
      && rangeRepaired.test(serverA!.output()), 'A repairs the drift', 10_000);
    assert.deepEqual(await reach(), [hello, hello], 'after the drift was repaired');

    // Restart: with A down, its veth (and so every route through it), firewall and forwarding go, and a TAP of no machine appears.
    await serverA.stop();
    const stale = 'hgrfffffffffff0';
    ip('link', 'del', veth);
    execFileSync('ip', ['netns', 'exec', a.netns, 'nft', 'delete', 'table', 'inet', 'hangar']);
    execFileSync('ip', ['netns', 'exec', a.netns, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=0']);
    ip('-n', a.netns, 'tuntap', 'add', 'dev', stale, 'mode', 'tap');
    serverA = await startA();
    assert.deepEqual(await reach(), [hello, hello], 'after a restart of A (the VM kept running)');
    assert.throws(() => ip('-n', a.netns, 'link', 'show', stale), 'the TAP of no machine is gone');
    assert.match(execFileSync('ip', ['netns', 'exec', a.netns, 'nft', 'list', 'table', 'inet', 'hangar']).toString(), /policy drop/);

    assert.equal((await api('DELETE', `/v1/apps/web/machines/${id}?force=true`)).status, 200);
  });
});
