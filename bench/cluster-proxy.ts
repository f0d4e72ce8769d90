/**
 * The edge proxy across hosts, on the test rig (two hosts in network namespaces of
 * their own joined only by a bridge; WireGuard underlay, wireguard-go here; qemu
 * driver, TCG), with one replica and PostgreSQL:
 *
 *   node bench/cluster-proxy.ts      (root; BENCH_REQUESTS per overhead run, default 400; BENCH_WAKES, default 5)
 *
 * - overhead: sequential requests through host 1's proxy to a machine on host 1
 *   (local) and to one on host 2 (remote, over the private network), alternating
 *   runs; p50/p99 of each, and the difference;
 * - wake: a suspended machine on host 2, woken by a request through host 2's own
 *   proxy (a bare local wake: start, resume, first answer) against one through
 *   host 1's proxy (asked of host 2 through the database), alternating; time from
 *   the request to its answer;
 * - an unknown `Host`: from the request to its 404.
 */
import { performance } from 'node:perf_hooks';
import { destroyMachinesOf } from '../test/helpers/cluster.ts';
import { viaProxy } from '../test/helpers/http.ts';
import { figureTable, formatTimes, machineFacts, ms, summarize } from './lib.ts';
import { onTwoHosts } from './two-hosts.ts';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 400);
const WAKES = Number(process.env.BENCH_WAKES ?? 5);

async function timedGet(url: string, host: string): Promise<number> {
  const began = performance.now();
  const reply = await viaProxy(url, host, '/', 120_000);
  if (reply.status !== 200) throw new Error(`${url} (${host}) answered ${reply.status}: ${reply.body}`);
  return performance.now() - began;
}

async function main(): Promise<void> {
  console.log(machineFacts());
  const { report, printTable } = figureTable();
  await onTwoHosts('cproxy', {}, async ({ c, image }) => {
    const config = {
      image, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 },
      services: [{ protocol: 'tcp', internal_port: 8080, autostart: true, autostop: 'off', ports: [{ port: 80, handlers: ['http'] }] }],
    };
    const machineIn = async (app: string, region: string) => {
      await c.call(0, 'POST', '/v1/apps', { name: app, org_slug: 'personal' });
      const reply = await c.call(0, 'POST', `/v1/apps/${app}/machines`, { region, config });
      if (reply.status !== 200) throw new Error(JSON.stringify(reply.body));
      await c.call(0, 'GET', `/v1/apps/${app}/machines/${reply.body.id}/wait?state=started&timeout=60`);
      return reply.body.id as string;
    };
    await machineIn('near', 'fra');
    const wakeId = await machineIn('far', 'syd');
    const [proxy1, proxy2] = [c.hosts.get('h1')?.proxyUrl(), c.hosts.get('h2')?.proxyUrl()];
    if (!proxy1 || !proxy2) throw new Error('the hosts did not say where their proxies listen');

    const local: number[] = [];
    const remote: number[] = [];
    // Warm: the first request through each path opens what later ones reuse.
    for (const host of ['near.localhost', 'far.localhost']) await timedGet(proxy1, host);
    for (let i = 0; i < REQUESTS; i++) {
      local.push(await timedGet(proxy1, 'near.localhost'));
      remote.push(await timedGet(proxy1, 'far.localhost'));
    }
    const [l, r] = [summarize(local), summarize(remote)];
    report('request through host 1\'s proxy to a machine on host 1', `p50 ${ms(l.p50)}, p99 ${ms(l.p99)}`, `n=${l.n}`);
    report('request through host 1\'s proxy to a machine on host 2', `p50 ${ms(r.p50)}, p99 ${ms(r.p99)}`, `n=${r.n}; over ${process.env.BENCH_UNDERLAY === 'plain' ? 'the plain underlay (VXLAN)' : 'WireGuard'}`);
    report('remote overhead (p50 remote − p50 local)', ms(r.p50 - l.p50), 'aim ≤ 1 ms');
    const unknown: number[] = [];
    for (let i = 0; i < 200; i++) {
      const began = performance.now();
      if ((await viaProxy(proxy1, 'nobody.localhost', '/', 5_000)).status !== 404) throw new Error('an unknown app was not a 404');
      unknown.push(performance.now() - began);
    }
    const u = summarize(unknown);
    report('an unknown Host through host 1\'s proxy, to its 404', `p50 ${ms(u.p50)}, p99 ${ms(u.p99)}`, `n=${u.n}; aim ≤ 5 ms`);

    const wakes: Record<'bare' | 'remote', number[]> = { bare: [], remote: [] };
    for (let i = 0; i < WAKES; i++) {
      for (const [kind, proxy] of [['bare', proxy2], ['remote', proxy1]] as const) {
        await c.call(0, 'POST', `/v1/apps/far/machines/${wakeId}/suspend`, {});
        const suspended = await c.call(0, 'GET', `/v1/apps/far/machines/${wakeId}/wait?state=suspended&timeout=60`);
        if (suspended.status !== 200) throw new Error(JSON.stringify(suspended.body));
        wakes[kind].push(await timedGet(proxy, 'far.localhost'));
      }
    }
    report('wake of a suspended machine through its own host\'s proxy (bare)', formatTimes(wakes.bare));
    report('wake of a suspended machine on host 2 through host 1\'s proxy', formatTimes(wakes.remote));
    report('remote wake overhead (p50 remote − p50 bare)', ms(summarize(wakes.remote).p50 - summarize(wakes.bare).p50), 'aim ≤ 150 ms');
    printTable();

    await destroyMachinesOf(c, ['near', 'far']);
  });
}

await main();
