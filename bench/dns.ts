/**
 * The private DNS server's answers per second and latency, against a bare UDP echo
 * server in Node (the floor: a Node UDP round trip with no DNS work), both in a
 * worker thread of their own on loopback, measured by the same client.
 *
 *   node bench/dns.ts        (BENCH_SECONDS per measure, default 5; BENCH_MACHINES, default 300)
 *
 * The directory: apps web (half the machines), api (10) and db, two hosts, two
 * regions. The queries, in turn: api.internal AAAA (EDNS, 10 addresses),
 * <id>.vm.web.internal AAAA, top2.nearest.of.web.internal AAAA, _apps.internal
 * TXT, theirs.internal (REFUSED). The rate limit is raised out of the way.
 */
import { createSocket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import dnsPacket from 'dns-packet';
import type { DnsMachine } from '../src/network/dns/answers.ts';
import { DnsServer } from '../src/network/dns/server.ts';
import { figureTable, machineFacts, ms, summarize } from './lib.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const MACHINES = Number(process.env.BENCH_MACHINES ?? 300);

function directory() {
  const machines: DnsMachine[] = Array.from({ length: MACHINES }, (_, i) => ({
    id: `${i.toString(16).padStart(6, '0')}e2e2e2e2`, app: i < 10 ? 'api' : i % 2 === 0 ? 'web' : 'db',
    region: i % 3 === 0 ? 'syd' : 'fra', hostId: i % 2 === 0 ? 'h1' : 'h2', address: `fdaa:0:${(i % 3) + 1}:a7b:0:${i.toString(16)}:0:2`,
  }));
  return { apps: new Map([['web', { org: 'acme' }], ['api', { org: 'acme' }], ['db', { org: 'acme' }], ['theirs', { org: 'other' }]]), machines };
}

async function serve(kind: 'dns' | 'echo'): Promise<number> {
  if (kind === 'dns') {
    const view = directory();
    const server = await DnsServer.listen({ host: '127.0.0.1', port: 0 }, {
      askerOf: () => ({ org: 'acme', hostId: 'h1', region: 'fra' }), directory: () => view, ratePerSecond: 1e9,
    });
    return server.address().port;
  }
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  socket.on('message', (message, from) => socket.send(message, from.port, from.address));
  return socket.address().port;
}

if (!isMainThread) {
  serve(workerData as 'dns' | 'echo').then((port) => parentPort?.postMessage(port));
} else {
  const view = directory();
  const web = view.machines.find((m) => m.app === 'web') as DnsMachine;
  const edns = [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as dnsPacket.Answer];
  const questions: Array<{ name: string; type: dnsPacket.RecordType }> = [
    { name: 'api.internal', type: 'AAAA' }, { name: `${web.id}.vm.web.internal`, type: 'AAAA' }, { name: 'top2.nearest.of.web.internal', type: 'AAAA' },
    { name: '_apps.internal', type: 'TXT' }, { name: 'theirs.internal', type: 'AAAA' },
  ];
  const queries = questions.map((question, i) => dnsPacket.encode({ type: 'query', id: i, questions: [question], additionals: edns }));

  /** `concurrency` queries outstanding for `seconds`: answers per second and each answer's latency. */
  const load = async (port: number, concurrency: number): Promise<{ rate: number; latencies: number[]; lost: number }> => {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const sentAt = new Map<number, number>();
    const latencies: number[] = [];
    let next = 0;
    let stopped = false;
    const send = () => {
      const id = next++ & 0xffff;
      const message = Buffer.from(queries[id % queries.length] as Buffer);
      message.writeUInt16BE(id, 0);
      sentAt.set(id, performance.now());
      socket.send(message, port, '127.0.0.1');
    };
    socket.on('message', (reply) => {
      const id = reply.readUInt16BE(0);
      const at = sentAt.get(id);
      if (at === undefined) return;
      sentAt.delete(id);
      latencies.push(performance.now() - at);
      if (!stopped) send();
    });
    const started = performance.now();
    for (let i = 0; i < concurrency; i++) send();
    // A lost datagram would stall its slot: top up every 100 ms.
    const topUp = setInterval(() => {
      for (const [id, at] of sentAt) if (performance.now() - at > 1_000) sentAt.delete(id);
      for (let i = sentAt.size; i < concurrency; i++) send();
    }, 100);
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
    stopped = true;
    clearInterval(topUp);
    const elapsed = (performance.now() - started) / 1000;
    socket.close();
    return { rate: latencies.length / elapsed, latencies, lost: next - latencies.length - sentAt.size };
  };

  const start = async (kind: 'dns' | 'echo') => {
    const worker = new Worker(new URL(import.meta.url), { workerData: kind });
    const port = await new Promise<number>((resolve) => worker.once('message', resolve));
    return { port, stop: () => worker.terminate() };
  };

  console.log(`machine: ${machineFacts()}`);
  const { report, printTable } = figureTable();
  for (const kind of ['echo', 'dns'] as const) {
    const server = await start(kind);
    const single = await load(server.port, 1);
    const many = await load(server.port, 32);
    await server.stop();
    const one = summarize(single.latencies);
    const loaded = summarize(many.latencies);
    const what = kind === 'dns' ? 'private DNS' : 'UDP echo (floor)';
    report(`${what}: one query at a time, p50 / p99`, `${ms(one.p50)} / ${ms(one.p99)}`, `${Math.round(single.rate)} answers/s`);
    report(`${what}: 32 outstanding, answers/s`, `${Math.round(many.rate)}`, `p50 ${ms(loaded.p50)}, p99 ${ms(loaded.p99)}, ${many.lost} lost`);
  }
  printTable();
}
