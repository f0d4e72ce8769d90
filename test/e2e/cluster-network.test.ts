/**
 * The private network across hosts, on real microVMs: two hosts, each in a network
 * namespace of its own joined to the other only by a simulated underlay (a
 * bridge), each reaching the other over WireGuard that hangar sets up (and again
 * over the plain VXLAN underlay). A machine
 * reaches its app's machine on the other host (ping and HTTP); it cannot reach
 * another app's, and the host counts the drop. Each host's private DNS answers
 * about both hosts' machines. A host restarted carries on with the network it
 * left. The route to another host's /64s follows where the app has machines.
 * One host's edge proxy wakes a machine on the other and serves it over the
 * private network. A stopped machine moved to the other host boots there, and a
 * suspended one resumes there with its memory; both are reached at the address and
 * name they kept. A move crashed at each of its failpoints leaves the machine on
 * exactly one host, the one its record names, where it resumes with its memory.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { canonicalAddress, meshLinkName } from '../../src/network/layout.ts';
import { type ClusterProcess, destroyMachinesOf, type HostSpec, startCluster, type TestCluster } from '../helpers/cluster.ts';
import { createHostsApart, type HostsApart, removeClusterApart } from '../helpers/hosts-apart.ts';
import { buildImage, busyboxLayer, writeOciLayout } from '../helpers/image-build.ts';
import { viaProxy } from '../helpers/http.ts';
import { postgresSkipReason } from '../helpers/postgres.ts';

const APPLETS = ['sh', 'cat', 'echo', 'httpd', 'nc', 'printf', 'ping', 'sleep', 'nslookup', 'mkdir', 'mv', 'ip'];
/** httpd, and a counter that lives only in the shell's memory (shown in a file, replaced whole by a rename). */
const COUNTER_APP = 'mkdir -p /www; echo hello from the other host > /www/index.html; httpd -p 8080 -h /www; '
  + 'i=0; while true; do i=$((i+1)); echo $i > /www/count.new; mv /www/count.new /www/count; sleep 0.2; done';
/** An HTTP request by hand: busybox wget crashes in a rootfs without NSS (static glibc); nc takes a numeric address as is. */
const get = (ip: string) => `printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${ip} 8080`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The hosts' autostop idle period. */
const IDLE_S = 4;

for (const underlay of ['wireguard', 'plain'] as const) describe(`one private network across two real hosts, over ${underlay}`, { skip: postgresSkipReason() }, () => {
  const tag = Math.random().toString(16).slice(2, 6);
  const dir = mkdtempSync(join(tmpdir(), 'hangar-mesh-'));
  const machinesNs = [`hgr-ma-${tag}`, `hgr-mb-${tag}`];
  let rig: HostsApart;
  let c: TestCluster;
  let hostSpecs: HostSpec[];
  let image: string;
  let counterImage: string;

  before(async () => {
    const built = await buildImage([{ compression: 'gzip', files: busyboxLayer(APPLETS, { 'www/index.html': 'hello from the other host\n' }) }], {
      Cmd: ['/bin/httpd', '-f', '-p', '8080', '-h', '/www'], Env: ['PATH=/bin'],
    });
    writeOciLayout(join(dir, 'image'), built, 'v1');
    image = `oci:${join(dir, 'image')}:v1`;
    const counter = await buildImage([{ compression: 'gzip', files: busyboxLayer(APPLETS) }], { Cmd: ['/bin/sh', '-c', COUNTER_APP], Env: ['PATH=/bin'] });
    writeOciLayout(join(dir, 'counter'), counter, 'v1');
    counterImage = `oci:${join(dir, 'counter')}:v1`;
    rig = await createHostsApart(2, tag);
    hostSpecs = [
      { id: 'fra-1', region: 'fra', apart: rig.hosts[0], extraArgs: ['--driver', 'qemu', '--netns', machinesNs[0] as string, '--underlay', underlay, '--autostop-after', `${IDLE_S}s`] },
      { id: 'syd-1', region: 'syd', apart: rig.hosts[1], extraArgs: ['--driver', 'qemu', '--netns', machinesNs[1] as string, '--underlay', underlay, '--autostop-after', `${IDLE_S}s`] },
    ];
    c = await startCluster({ replicas: 1, hosts: hostSpecs });
    for (const name of ['mesh-a', 'mesh-b']) assert.equal((await c.call(0, 'POST', '/v1/apps', { name, org_slug: 'personal' })).status, 201);
  });

  after(async () => {
    if (c) await destroyMachinesOf(c, ['mesh-a', 'mesh-b', 'mesh-idle']);
    await removeClusterApart(c, machinesNs, rig);
    rmSync(dir, { recursive: true, force: true });
  });

  const create = async (app: string, region: string, from = image) => {
    const reply = await c.call(0, 'POST', `/v1/apps/${app}/machines`, { region, config: { image: from, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 } } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    const wait = await c.call(0, 'GET', `/v1/apps/${app}/machines/${reply.body.id}/wait?state=started&timeout=60`);
    assert.equal(wait.status, 200, JSON.stringify(wait.body));
    return reply.body as { id: string; private_ip: string; host_id: string };
  };
  const sh = async (app: string, id: string, script: string) => {
    const reply = await c.call(0, 'POST', `/v1/apps/${app}/machines/${id}/exec`, { command: ['/bin/sh', '-c', script], timeout: 30 });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body as { stdout: string; stderr: string; exit_code: number };
  };
  const meshRoutes = (i: number) => execFileSync('ip', ['-n', machinesNs[i] as string, '-6', 'route', 'show', 'dev', meshLinkName(machinesNs[i] as string)], { encoding: 'utf8' });
  const eventually = async (what: string, check: () => boolean) => {
    for (let i = 0; i < 100 && !check(); i++) await sleep(100);
    assert.ok(check(), what);
  };

  it('carries an app\'s traffic between its machines on two hosts, and nothing across apps', async () => {
    const a1 = await create('mesh-a', 'fra');
    const a2 = await create('mesh-a', 'syd');
    const b2 = await create('mesh-b', 'syd');
    assert.deepEqual([a1.host_id, a2.host_id, b2.host_id], ['fra-1', 'syd-1', 'syd-1']);
    const prefix = (ip: string) => `${ip.split(':').slice(0, 4).join(':')}::/64`;
    await eventually('fra-1 routes both apps\' /64s on syd-1 through its mesh link', () => {
      const routes = meshRoutes(0);
      return routes.includes(prefix(a2.private_ip)) && routes.includes(prefix(b2.private_ip));
    });

    const ping = await sh('mesh-a', a1.id, `ping -c 2 -W 3 ${a2.private_ip}`);
    assert.equal(ping.exit_code, 0, `${ping.stdout}${ping.stderr}`);
    const page = await sh('mesh-a', a1.id, get(a2.private_ip));
    assert.match(page.stdout, /^HTTP\/1\.[01] 200 .*hello from the other host\n$/s, JSON.stringify(page));
    const back = await sh('mesh-a', a2.id, get(a1.private_ip));
    assert.match(back.stdout, /hello from the other host\n$/, JSON.stringify(back));

    if (underlay === 'wireguard') {
      // It went through WireGuard: the hosts shook hands and counted the bytes.
      const transfer = execFileSync('ip', ['netns', 'exec', machinesNs[0] as string, 'wg', 'show', meshLinkName(machinesNs[0] as string), 'transfer'], { encoding: 'utf8' });
      const [, received = '0', sent = '0'] = transfer.trim().split('\t');
      assert.ok(Number(received) > 0 && Number(sent) > 0, transfer);
      // On a kernel without WireGuard, the wireguard-go is hangar's own where setup fetched one (backports', with TUN offloads).
      const ownWireguardGo = fileURLToPath(new URL('../../.tools/wireguard-go/wireguard-go', import.meta.url));
      const userspace = spawnSync('pgrep', ['-a', '-f', `wireguard-go ${meshLinkName(machinesNs[0] as string)}$`], { encoding: 'utf8' }).stdout.trim();
      if (userspace && existsSync(ownWireguardGo)) assert.equal(userspace.split(' ')[1], ownWireguardGo, userspace);
    } else {
      const link = execFileSync('ip', ['-n', machinesNs[0] as string, '-s', '-d', 'link', 'show', meshLinkName(machinesNs[0] as string)], { encoding: 'utf8' });
      assert.match(link, /vxlan id 6 local 10\.\d+\.0\.1 /, link);
    }

    // Each host's private DNS answers about both hosts' machines.
    const lookUp = async (id: string, ...args: string[]) => {
      const result = await sh('mesh-a', id, `nslookup ${args.join(' ')}`);
      return `${result.stdout}${result.stderr}`;
    };
    for (const asker of [a1, a2]) {
      const both = await lookUp(asker.id, '-type=aaaa', 'mesh-a.internal');
      assert.ok(both.includes(a1.private_ip) && both.includes(a2.private_ip), both);
    }
    assert.ok((await lookUp(a1.id, '-type=aaaa', `${a2.id}.vm.mesh-a.internal`)).includes(a2.private_ip));
    assert.ok((await lookUp(a2.id, '-type=aaaa', 'fra.mesh-a.internal')).includes(a1.private_ip));
    assert.match(await lookUp(a1.id, '-type=txt', 'vms.mesh-b.internal'), new RegExp(`${b2.id} syd`));

    const across = await sh('mesh-a', a1.id, get(b2.private_ip));
    assert.equal(across.stdout, '', 'nothing comes back from another app\'s machine');
    const crossPing = await sh('mesh-a', a1.id, `ping -c 1 -W 2 ${b2.private_ip} || echo refused`);
    assert.match(crossPing.stdout, /refused\n$/);
    const metrics = await c.agentFetch('fra-1', '/metrics');
    assert.equal(metrics.status, 200);
    const dropped = /hangar_6pn_dropped_total\{reason="app"\} (\d+)/.exec(String(metrics.body));
    assert.ok(dropped && Number(dropped[1]) > 0, String(metrics.body));

    // A host restarted finds its WireGuard link as it left it (the VMs and their network outlive hangar) and carries on.
    const syd = c.hosts.get('syd-1');
    await syd?.stop();
    await c.startHost(hostSpecs[1] as HostSpec, syd?.dataDir);
    const again = await sh('mesh-a', a1.id, `ping -c 2 -W 3 ${a2.private_ip}`);
    assert.equal(again.exit_code, 0, `${again.stdout}${again.stderr}`);
    assert.match(await lookUp(a2.id, '-type=aaaa', `${a1.id}.vm.mesh-a.internal`), new RegExp(a1.private_ip));

    // The route to mesh-b's machines on syd-1 goes with its last machine there.
    assert.equal((await c.call(0, 'DELETE', `/v1/apps/mesh-b/machines/${b2.id}?force=true`)).status, 200);
    await eventually('fra-1 drops the route to mesh-b on syd-1', () => !meshRoutes(0).includes(prefix(b2.private_ip)));
    assert.ok(meshRoutes(0).includes(prefix(a2.private_ip)));
  });

  it('serves a request to one host\'s proxy from a machine on the other, woken there', { skip: underlay === 'plain' && 'shown over WireGuard' }, async () => {
    const reply = await c.call(0, 'POST', '/v1/apps/mesh-a/machines', {
      region: 'syd',
      config: {
        image, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 },
        services: [{ protocol: 'tcp', internal_port: 8080, autostart: true, autostop: 'off', ports: [{ port: 80, handlers: ['http'] }] }],
      },
    });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    const web = reply.body as { id: string; host_id: string };
    assert.equal(web.host_id, 'syd-1');
    assert.equal((await c.call(0, 'GET', `/v1/apps/mesh-a/machines/${web.id}/wait?state=started&timeout=60`)).status, 200);
    assert.equal((await c.call(0, 'POST', `/v1/apps/mesh-a/machines/${web.id}/stop`, {})).status, 200);
    assert.equal((await c.call(0, 'GET', `/v1/apps/mesh-a/machines/${web.id}/wait?state=stopped&timeout=60`)).status, 200);

    const proxy = c.hosts.get('fra-1')?.proxyUrl();
    assert.ok(proxy, c.hosts.get('fra-1')?.output());
    assert.equal((await viaProxy(proxy, 'nobody-here.localhost')).status, 404);
    // fra-1 asks syd-1 to start its machine, and holds the request until it answers over the private network.
    const page = await viaProxy(proxy, 'mesh-a.localhost', '/index.html', 90_000);
    assert.equal(page.status, 200, page.body);
    assert.equal(page.body, 'hello from the other host\n');
    const shown = await c.call(0, 'GET', `/v1/apps/mesh-a/machines/${web.id}`);
    assert.equal(shown.body.state, 'started');
    const again = await viaProxy(proxy, 'mesh-a.localhost', '/index.html', 5_000);
    assert.equal(again.status, 200, 'a running machine on the other host is served at once');
    assert.equal((await c.call(0, 'DELETE', `/v1/apps/mesh-a/machines/${web.id}?force=true`)).status, 200);
  });

  it('moves a stopped machine to the other host, where it boots and its app\'s machines reach it at the address and name it kept', { skip: underlay === 'plain' && 'shown over WireGuard' }, async () => {
    const here = await create('mesh-a', 'fra');
    const mover = await create('mesh-a', 'fra');
    assert.equal((await c.call(0, 'POST', `/v1/apps/mesh-a/machines/${mover.id}/stop`, {})).status, 200);
    assert.equal((await c.call(0, 'GET', `/v1/apps/mesh-a/machines/${mover.id}/wait?state=stopped&timeout=60`)).status, 200);
    const moved = await c.call(0, 'POST', `/hangar/v1/apps/mesh-a/machines/${mover.id}/move`, { host: 'syd-1' });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.equal(moved.body.host_id, 'syd-1');
    assert.equal((await c.call(0, 'POST', `/v1/apps/mesh-a/machines/${mover.id}/start`, {})).status, 200);
    assert.equal((await c.call(0, 'GET', `/v1/apps/mesh-a/machines/${mover.id}/wait?state=started&timeout=60`)).status, 200);
    const address = moved.body.private_ip as string;
    assert.equal(address, mover.private_ip, 'it keeps its 6PN address');
    await eventually('fra-1 routes the moved machine\'s kept address to syd-1', () => meshRoutes(0).includes(canonicalAddress(address)));
    const page = await sh('mesh-a', here.id, get(address));
    assert.match(page.stdout, /hello from the other host\n$/, JSON.stringify(page));
    const named = await sh('mesh-a', here.id, `nslookup -type=aaaa ${mover.id}.vm.mesh-a.internal`);
    assert.ok(`${named.stdout}${named.stderr}`.includes(address), JSON.stringify(named));
    for (const m of [here, mover]) assert.equal((await c.call(0, 'DELETE', `/v1/apps/mesh-a/machines/${m.id}?force=true`)).status, 200);
  });

  it('moves a suspended machine to the other host, where it resumes with its memory and is reached at the address and name it kept', { skip: underlay === 'plain' && 'shown over WireGuard' }, async () => {
    const here = await create('mesh-a', 'fra');
    const mover = await create('mesh-a', 'fra', counterImage);
    const run = async () => (await sh('mesh-a', mover.id, 'cat /proc/sys/kernel/random/boot_id; cat /www/count')).stdout.trim().split('\n');
    for (let i = 0; i < 50 && (await run()).length < 2; i++) await sleep(200);
    const [bootId, count] = await run();
    assert.equal((await c.call(0, 'POST', `/v1/apps/mesh-a/machines/${mover.id}/suspend`, {})).status, 200);
    assert.equal((await c.call(0, 'GET', `/v1/apps/mesh-a/machines/${mover.id}/wait?state=suspended&timeout=60`)).status, 200);
    const moved = await c.call(0, 'POST', `/hangar/v1/apps/mesh-a/machines/${mover.id}/move`, { host: 'syd-1' });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.deepEqual([moved.body.host_id, moved.body.state, moved.body.private_ip], ['syd-1', 'suspended', mover.private_ip]);
    assert.equal((await c.call(0, 'POST', `/v1/apps/mesh-a/machines/${mover.id}/start`, {})).status, 200);
    assert.equal((await c.call(0, 'GET', `/v1/apps/mesh-a/machines/${mover.id}/wait?state=started&timeout=60`)).status, 200);
    const events = (await c.call(0, 'GET', `/v1/apps/mesh-a/machines/${mover.id}/events`)).body as Array<{ type: string; timestamp: number; request?: { resumed?: boolean; cold_boot_reason?: string } }>;
    const start = events.filter((e) => e.type === 'start' && e.request?.resumed !== undefined).sort((a, b) => b.timestamp - a.timestamp)[0];
    assert.equal(start?.request?.resumed, true, `resumed, not booted cold: ${JSON.stringify(start?.request)}`);
    const [bootAfter, countAfter] = await run();
    assert.equal(bootAfter, bootId, 'the same boot of the guest');
    const ipv4 = (await sh('mesh-a', mover.id, 'ip -4 addr show dev eth0')).stdout;
    assert.notEqual(moved.body.private_ipv4, (mover as { private_ipv4?: string }).private_ipv4, 'an IPv4 address of the new host\'s');
    assert.ok(ipv4.includes(`${moved.body.private_ipv4}/32`) && !ipv4.includes(`${(mover as { private_ipv4?: string }).private_ipv4}/`), `the guest took it: ${ipv4}`);
    assert.ok(Number(countAfter) >= Number(count), `the counter continues (${count} then ${countAfter})`);
    assert.ok(Number(countAfter) < Number(count) + 25, `the counter did not run while it moved (${count} then ${countAfter})`);
    await eventually('fra-1 routes the moved machine\'s kept address to syd-1', () => meshRoutes(0).includes(canonicalAddress(mover.private_ip)));
    const page = await sh('mesh-a', here.id, get(mover.private_ip));
    assert.match(page.stdout, /hello from the other host\n$/, JSON.stringify(page));
    const named = await sh('mesh-a', here.id, `nslookup -type=aaaa ${mover.id}.vm.mesh-a.internal`);
    assert.ok(`${named.stdout}${named.stderr}`.includes(mover.private_ip), JSON.stringify(named));
    const left = join(c.hosts.get('fra-1')?.dataDir as string, 'machines', mover.id);
    await eventually('fra-1 lets go of its copy', () => !existsSync(left));
    for (const m of [here, mover]) assert.equal((await c.call(0, 'DELETE', `/v1/apps/mesh-a/machines/${m.id}?force=true`)).status, 200);
  });

  it('leaves a machine whose move crashed at each failpoint on exactly one host, where it resumes with its memory', { skip: underlay === 'plain' && 'shown over WireGuard' }, async () => {
    const m = await create('mesh-a', 'fra', counterImage);
    const bootOf = async () => (await sh('mesh-a', m.id, 'cat /proc/sys/kernel/random/boot_id')).stdout.trim();
    const bootId = await bootOf();
    const qemusOf = () => {
      let argvs = '';
      try { argvs = execFileSync('pgrep', ['-af', `qemu-system.*${m.id}`], { encoding: 'utf8' }); } catch { /* none */ }
      return hostSpecs.filter((spec) => argvs.includes(join(c.hosts.get(spec.id)?.dataDir as string, 'machines', m.id))).map((spec) => spec.id);
    };
    for (const [failpoint, crashes, lands] of [
      ['migrate.after-reserve', 'replica', 'source'], ['migrate.after-copy', 'replica', 'source'],
      ['migrate.after-commit', 'replica', 'target'], ['migrate.before-cleanup', 'source host', 'target'],
    ] as const) {
      assert.equal((await c.call(0, 'POST', `/v1/apps/mesh-a/machines/${m.id}/suspend`, {})).status, 200);
      assert.equal((await c.call(0, 'GET', `/v1/apps/mesh-a/machines/${m.id}/wait?state=suspended&timeout=60`)).status, 200);
      const from = (await c.call(0, 'GET', `/v1/apps/mesh-a/machines/${m.id}`)).body.host_id as string;
      const to = from === 'fra-1' ? 'syd-1' : 'fra-1';
      if (crashes === 'replica') {
        const doomed = await c.startReplica({ HANGAR_FAILPOINTS: `${failpoint}=crash` });
        const index = c.replicas.indexOf(doomed);
        await assert.rejects(c.call(index, 'POST', `/hangar/v1/apps/mesh-a/machines/${m.id}/move`, { host: to }), `the replica dies at ${failpoint}`);
        c.replicas.splice(index, 1);
      } else {
        const spec = hostSpecs.find((host) => host.id === from) as HostSpec;
        const source = c.hosts.get(from) as ClusterProcess;
        await source.stop();
        const doomed = await c.startHost(spec, source.dataDir, { HANGAR_FAILPOINTS: `${failpoint}=crash` });
        assert.equal((await c.call(0, 'POST', `/hangar/v1/apps/mesh-a/machines/${m.id}/move`, { host: to })).status, 200);
        await eventually(`the source host dies at ${failpoint}`, () => doomed.child.signalCode === 'SIGKILL');
        await c.startHost(spec, source.dataDir);
      }
      const placed = (await c.call(0, 'GET', `/v1/apps/mesh-a/machines/${m.id}`)).body.host_id;
      assert.equal(placed, lands === 'source' ? from : to, `after ${failpoint}`);
      assert.equal((await c.call(0, 'POST', `/v1/apps/mesh-a/machines/${m.id}/start`, {})).status, 200);
      assert.equal((await c.call(0, 'GET', `/v1/apps/mesh-a/machines/${m.id}/wait?state=started&timeout=60`)).status, 200);
      assert.deepEqual(qemusOf(), [placed], `after ${failpoint}, it runs on ${placed} only`);
      assert.equal(await bootOf(), bootId, `after ${failpoint}, with its memory`);
    }
    assert.equal((await c.call(0, 'DELETE', `/v1/apps/mesh-a/machines/${m.id}?force=true`)).status, 200);
  });

  it('never retires a machine that serves through another host\'s proxy, and retires it once idle', { skip: underlay === 'plain' && 'shown over WireGuard' }, async () => {
    assert.equal((await c.call(0, 'POST', '/v1/apps', { name: 'mesh-idle', org_slug: 'personal' })).status, 201);
    const reply = await c.call(0, 'POST', '/v1/apps/mesh-idle/machines', {
      region: 'syd',
      config: {
        image, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 },
        services: [{ protocol: 'tcp', internal_port: 8080, autostart: true, autostop: 'stop', ports: [{ port: 80, handlers: ['http'] }] }],
      },
    });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    const id = reply.body.id as string;
    try {
      assert.equal((await c.call(0, 'GET', `/v1/apps/mesh-idle/machines/${id}/wait?state=started&timeout=60`)).status, 200);
      // syd-1 decides for (mesh-idle, syd); the traffic goes through fra-1's proxy only.
      const proxy = c.hosts.get('fra-1')?.proxyUrl() as string;
      for (let i = 0; i < 3 * IDLE_S; i++) {
        assert.equal((await viaProxy(proxy, 'mesh-idle.localhost', '/index.html', 60_000)).status, 200);
        await sleep(1_000);
      }
      assert.equal((await c.call(0, 'GET', `/v1/apps/mesh-idle/machines/${id}`)).body.state, 'started', 'served through another host within every idle period: kept');
      const stopped = await c.call(0, 'GET', `/v1/apps/mesh-idle/machines/${id}/wait?state=stopped&timeout=${4 * IDLE_S}`);
      assert.equal(stopped.status, 200, 'idle everywhere: retired');
    } finally {
      await c.call(0, 'DELETE', `/v1/apps/mesh-idle/machines/${id}?force=true`);
    }
  });
});
