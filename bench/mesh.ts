/**
 * The private network across hosts on the test rig (two hosts in network
 * namespaces of their own, joined only by a bridge; test/helpers/hosts-apart.ts),
 * with hangar's own setup: two `--role host` processes (qemu driver, WireGuard
 * underlay: wireguard-go here), one replica, PostgreSQL.
 *
 *   node bench/mesh.ts      (root; BENCH_SECONDS per throughput run, default 4; BENCH_LAGS, default 10)
 *
 * runs it twice, each on a fresh rig: with `--underlay plain` (VXLAN; network
 * figures only) and with WireGuard (everything), then sets them side by side.
 * BENCH_UNDERLAY=wireguard|plain runs one.
 *
 * - route lag: from a create's answer (skip_launch, placed on the other host) to
 *   the route to that app's /64 there in this host's machines' namespace;
 * - TCP throughput and round trips (1 byte, one at a time) between two addresses
 *   of one app, one in each host's machines' namespace, over WireGuard; against the
 *   same between the hosts' own addresses over the bare underlay (what an
 *   unencrypted underlay could at best give), and one hop on one host (the host's
 *   namespace to its machines' one, over the veth).
 * The endpoints are the machines' own addresses put on the namespaces' loopback
 * (the machines are created with skip_launch): this measures the network, not TCG.
 * - DNS feed lag (BENCH_BOOTS machines, default 3, really booted on the other
 *   host): from the started wait's answer to the first answer of this host's DNS
 *   that holds the machine, asked every 20 ms from one of this host's machines'
 *   addresses.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import dnsPacket from 'dns-packet';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { canonicalAddress, hostVethName, meshLinkName, transit } from '../src/network/layout.ts';
import { startCluster } from '../test/helpers/cluster.ts';
import { createHostsApart, removeClusterApart } from '../test/helpers/hosts-apart.ts';
import { buildImage, busyboxLayer, writeOciLayout } from '../test/helpers/image-build.ts';
import { serverNetworkLayout } from '../test/helpers/network.ts';
import { figureTable, machineFacts, ms, summarize } from './lib.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const LAGS = Number(process.env.BENCH_LAGS ?? 10);
const PORT = 7700;
const ROUND_TRIPS = 2000;
const BOOTS = Number(process.env.BENCH_BOOTS ?? 3);

/** In a namespace: asks `server` for `name` (AAAA) from `source` every 20 ms (within the DNS's rate limit per source) until an answer holds `expect`; prints the time then. */
async function dig(source: string, server: string, name: string, expect: string): Promise<void> {
  const socket = createSocket('udp6');
  await new Promise<void>((resolve) => socket.bind(0, source, resolve));
  let last = '';
  const seen = new Promise<number>((resolve) => socket.on('message', (message) => {
    const decoded = dnsPacket.decode(message);
    const said = `${(decoded as { rcode?: string }).rcode ?? ''} ${JSON.stringify(decoded.answers ?? [])}`;
    if (said !== last) console.error(`dig: ${Date.now()} ${said}`);
    last = said;
    if ((decoded.answers ?? []).some((answer) => answer.type === 'AAAA' && canonicalAddress(String(answer.data)) === canonicalAddress(expect))) resolve(Date.now());
  }));
  const query = dnsPacket.encode({ type: 'query', id: 1, questions: [{ name, type: 'AAAA' }] });
  const timer = setInterval(() => socket.send(query, 53, server), 20);
  console.log('ready');
  const giveUp = new AbortController();
  const at = await Promise.race([seen, sleep(90_000, 0, { signal: giveUp.signal }).catch(() => 0)]);
  giveUp.abort();
  clearInterval(timer);
  socket.close();
  console.log(String(at));
}

/** In a namespace: `serve ADDRESS` answers both measures; `client ADDRESS` runs them and prints JSON. */
async function peer(mode: string, address: string): Promise<void> {
  if (mode === 'serve') {
    createServer((socket) => {
      socket.once('data', (first) => {
        if (first[0] === 0x54) { // T: count what comes until the end, then say how much
          let bytes = first.length - 1;
          socket.on('data', (chunk) => { bytes += chunk.length; });
          socket.on('end', () => socket.end(String(bytes)));
        } else { // P: echo every byte back
          socket.write(first.subarray(1));
          socket.on('data', (chunk) => socket.write(chunk));
        }
      });
    }).listen(PORT, address, () => console.log('ready'));
    return;
  }
  const connect = () => new Promise<Socket>((resolve, reject) => {
    const socket = createConnection({ host: address, port: PORT, noDelay: true }, () => resolve(socket)).once('error', reject);
  });
  const pinger = await connect();
  pinger.write('P');
  const rtts: number[] = [];
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const t0 = performance.now();
    pinger.write('x');
    await new Promise((resolve) => pinger.once('data', resolve));
    rtts.push(performance.now() - t0);
  }
  pinger.destroy();
  const sender = await connect();
  const block = Buffer.alloc(64 * 1024, 1);
  sender.write('T');
  const end = performance.now() + SECONDS * 1000;
  const start = performance.now();
  while (performance.now() < end) if (!sender.write(block)) await new Promise((resolve) => sender.once('drain', resolve));
  const counted = await new Promise<number>((resolve) => {
    let text = '';
    sender.on('data', (chunk) => { text += chunk; });
    sender.on('end', () => resolve(Number(text)));
    sender.end();
  });
  const seconds = (performance.now() - start) / 1000;
  console.log(JSON.stringify({ mbits: (counted * 8) / seconds / 1e6, rtt: summarize(rtts) }));
}

const self = fileURLToPath(import.meta.url);
const inNs = (ns: string, ...args: string[]) => ['nsenter', `--net=/run/netns/${ns}`, process.execPath, self, ...args];

/** Runs the pair: a server in `serverNs` on `serverAddress`, the client in `clientNs`. */
async function measure(clientNs: string, serverNs: string, serverAddress: string): Promise<{ mbits: number; rtt: ReturnType<typeof summarize> }> {
  const [command, ...args] = inNs(serverNs, 'serve', serverAddress);
  const server = spawn(command as string, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise((resolve) => server.stdout.once('data', resolve));
    const out = execFileSync(inNs(clientNs, 'client', serverAddress)[0] as string, inNs(clientNs, 'client', serverAddress).slice(1), { encoding: 'utf8' });
    return JSON.parse(out);
  } finally {
    server.kill();
  }
}

if (process.argv[2] === 'serve' || process.argv[2] === 'client') {
  await peer(process.argv[2], process.argv[3] as string);
} else if (process.argv[2] === 'dig') {
  const [source, server, name, expect] = process.argv.slice(3) as [string, string, string, string];
  await dig(source, server, name, expect);
} else if (process.env.BENCH_UNDERLAY === undefined) {
  // Both underlays, one after the other on fresh rigs: plain first (network figures only), then WireGuard (everything).
  console.log(`machine: ${machineFacts()}`);
  const results: Record<string, { mbits: number; rtt: ReturnType<typeof summarize> }> = {};
  for (const underlay of ['plain', 'wireguard']) {
    const file = join(tmpdir(), `hangar-bench-mesh-${underlay}-${process.pid}.json`);
    const extra = underlay === 'plain' ? { BENCH_BOOTS: '0', BENCH_LAGS: '3' } : {};
    const run = spawnSync(process.execPath, [self], { stdio: 'inherit', env: { ...process.env, ...extra, BENCH_UNDERLAY: underlay, BENCH_RESULT: file } });
    if (run.status !== 0) throw new Error(`the ${underlay} run failed`);
    results[underlay] = JSON.parse(readFileSync(file, 'utf8'));
    rmSync(file, { force: true });
  }
  const { report, printTable } = figureTable();
  const [plain, wireguard] = [results.plain!, results.wireguard!];
  report('WireGuard ÷ plain (VXLAN), throughput', `${((wireguard.mbits / plain.mbits) * 100).toFixed(0)} % (${wireguard.mbits.toFixed(0)} / ${plain.mbits.toFixed(0)} Mbit/s)`, 'aim ≥ 70 %');
  report('WireGuard − plain, RTT p50', ms(wireguard.rtt.p50 - plain.rtt.p50), `plain p50 ${ms(plain.rtt.p50)}`);
  printTable();
} else {
  const UNDERLAY = process.env.BENCH_UNDERLAY;
  const { report, printTable } = figureTable();
  console.log(`\nunderlay: ${UNDERLAY}`);
  const tag = Math.random().toString(16).slice(2, 6);
  const dir = mkdtempSync(join(tmpdir(), 'hangar-bench-mesh-'));
  const machinesNs = [`hgr-ba-${tag}`, `hgr-bb-${tag}`];
  const built = await buildImage([{ compression: 'gzip', files: busyboxLayer(['sh', 'sleep']) }], { Cmd: ['/bin/sleep', '100000'], Env: ['PATH=/bin'] });
  writeOciLayout(join(dir, 'image'), built, 'v1');
  const config = { image: `oci:${join(dir, 'image')}:v1`, guest: { cpu_kind: 'shared', cpus: 1, memory_mb: 256 } };
  const rig = await createHostsApart(2, tag);
  const [ns1, ns2] = machinesNs as [string, string];
  let cluster: Awaited<ReturnType<typeof startCluster>> | undefined;
  try {
    cluster = await startCluster({
      replicas: 1,
      hosts: [
        { id: 'h1', region: 'fra', apart: rig.hosts[0], extraArgs: ['--driver', 'qemu', '--netns', ns1, '--underlay', UNDERLAY] },
        { id: 'h2', region: 'syd', apart: rig.hosts[1], extraArgs: ['--driver', 'qemu', '--netns', ns2, '--underlay', UNDERLAY] },
      ],
    });
    const created = async (app: string, region: string) => {
      const reply = await (cluster as NonNullable<typeof cluster>).call(0, 'POST', `/v1/apps/${app}/machines`, { skip_launch: true, region, config });
      if (reply.status !== 200) throw new Error(JSON.stringify(reply.body));
      return reply.body as { id: string; private_ip: string };
    };
    const routes = () => execFileSync('ip', ['-n', ns1, '-6', 'route', 'show', 'dev', meshLinkName(ns1)], { encoding: 'utf8' });

    const lags: number[] = [];
    for (let i = 0; i < LAGS; i++) {
      await cluster.call(0, 'POST', '/v1/apps', { name: `lag-${i}`, org_slug: 'personal' });
      const machine = await created(`lag-${i}`, 'syd');
      const answered = performance.now();
      const prefix = `${machine.private_ip.split(':').slice(0, 4).join(':')}::/64`;
      while (!routes().includes(prefix)) await sleep(5);
      lags.push(performance.now() - answered);
    }
    const lag = summarize(lags);
    report('route to a new app\'s /64 on the other host, after the create answered', `p50 ${ms(lag.p50)}, max ${ms(lag.max)}`, `n=${lag.n}; aim ≤ 2 s`);

    await cluster.call(0, 'POST', '/v1/apps', { name: 'tput', org_slug: 'personal' });
    const [m1, m2] = [await created('tput', 'fra'), await created('tput', 'syd')];
    const prefix2 = `${m2.private_ip.split(':').slice(0, 4).join(':')}::/64`;
    for (let i = 0; i < 400 && !routes().includes(prefix2); i++) await sleep(10);
    execFileSync('ip', ['-n', ns1, '-6', 'addr', 'add', `${m1.private_ip}/128`, 'dev', 'lo']);
    execFileSync('ip', ['-n', ns2, '-6', 'addr', 'add', `${m2.private_ip}/128`, 'dev', 'lo']);
    await sleep(1500);

    const layout1 = serverNetworkLayout((cluster.hosts.get('h1') as { dataDir: string }).dataDir, ns1);
    const runs = {
      wireguard: await measure(ns1, ns2, m2.private_ip),
      underlay: await measure(rig.hosts[0]!.netns, rig.hosts[1]!.netns, rig.hosts[1]!.address),
      local: await measure(rig.hosts[0]!.netns, ns1, transit(layout1).ns6),
    };
    const line = (run: { mbits: number; rtt: ReturnType<typeof summarize> }) => `${run.mbits.toFixed(0)} Mbit/s; RTT p50 ${ms(run.rtt.p50)}, p99 ${ms(run.rtt.p99)}`;
    report(`across hosts over ${UNDERLAY} (machines' namespaces)`, line(runs.wireguard));
    if (process.env.BENCH_RESULT) writeFileSync(process.env.BENCH_RESULT, JSON.stringify(runs.wireguard));
    report('across hosts over the bare underlay (hosts\' namespaces)', line(runs.underlay), 'no tunnel, no encryption: the ceiling');
    report('one hop on one host (host ↔ machines\' namespace)', line(runs.local));
    report(`${UNDERLAY} ÷ bare underlay, throughput`, `${((runs.wireguard.mbits / runs.underlay.mbits) * 100).toFixed(0)} %`);
    report(`${UNDERLAY} RTT − one hop on one host, p50`, ms(runs.wireguard.rtt.p50 - runs.local.rtt.p50), 'aim ≤ 0.3 ms');
    const feedLags: number[] = [];
    // The DNS answers m1's address (a machine of h1) back through h1's namespace, by a route hangar does not know of:
    // its convergence (the mesh's repair, every 30 s) removes it, so it is put back all along.
    const answerRoute = () => execFileSync('ip', ['-n', rig.hosts[0]!.netns, '-6', 'route', 'replace', `${m1.private_ip}/128`, 'via', transit(layout1).ns6, 'dev', hostVethName(ns1)]);
    answerRoute();
    const keepRoute = setInterval(answerRoute, 100);
    for (let i = 0; i < BOOTS; i++) {
      const booted = await created('tput', 'syd');
      const [command, ...args] = inNs(ns1, 'dig', m1.private_ip, transit(layout1).host6, `${booted.id}.vm.tput.internal`, booted.private_ip);
      const digger = spawn(command as string, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      const lines: string[] = [];
      digger.stdout.setEncoding('utf8').on('data', (chunk: string) => lines.push(...chunk.trim().split('\n')));
      while (!lines.includes('ready')) await sleep(5);
      await cluster.call(0, 'POST', `/v1/apps/tput/machines/${booted.id}/start`);
      const wait = await cluster.call(0, 'GET', `/v1/apps/tput/machines/${booted.id}/wait?state=started&timeout=60`);
      const committed = Date.now();
      if (wait.status !== 200) throw new Error(`machine did not start: ${JSON.stringify(wait.body)}`);
      await new Promise((resolve) => digger.once('close', resolve));
      const seen = Number(lines.at(-1));
      if (!seen) throw new Error(`the DNS never answered with the machine (dig said ${JSON.stringify(lines)})`);
      feedLags.push(seen - committed);
      await cluster.call(0, 'DELETE', `/v1/apps/tput/machines/${booted.id}?force=true`);
      await cluster.call(0, 'GET', `/v1/apps/tput/machines/${booted.id}/wait?state=destroyed&timeout=60`);
    }
    clearInterval(keepRoute);
    if (BOOTS > 0) report('DNS: a machine started on the other host, in this host\'s answers after the started wait answered', feedLags.map((lag) => `${lag} ms`).join(', '),
      'negative: answered before the replica released the wait; aim ≤ 1 s p99');
    printTable();
  } finally {
    await removeClusterApart(cluster, machinesNs, rig);
    rmSync(dir, { recursive: true, force: true });
  }
}
