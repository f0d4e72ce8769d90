/**
 * Deploy benchmark, on real microVMs behind `hangar serve --driver qemu`: a
 * 3-machine app (a fly.toml with an HTTP service and a check), deployed with
 * `hangar deploy` (rolling, one machine at a time) to a new image while a client
 * sends a request every 100 ms through the proxy.
 *
 * - Deploy time: from the CLI's start to its end. Its baseline, alternated with it
 *   in each round: the same three machines restarted one after another through the
 *   API, each timed from `POST …/restart` until its app answers on its private
 *   address: the least a rolling deploy must wait for.
 * - Failed requests: every answer through the proxy that is not a 200 from one of
 *   the app's versions, while the deploy runs (aim: 0).
 *
 * Prints figures; asserts nothing. Needs root and scripts/setup-guest.sh.
 *   node bench/deploy.ts   (BENCH_ROUNDS, default 3)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { cliWith } from '../test/helpers/cli-run.ts';
import { viaProxy } from '../test/helpers/http.ts';
import { busyboxLayer } from '../test/helpers/image-build.ts';
import { pushImage, startRegistry } from '../test/helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess } from '../test/helpers/server-process.ts';
import { answered, figureTable, formatTimes, machineFacts, summarize } from './lib.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DOMAIN = 'bench.test';
const APP = (version: string) => `mkdir -p /www; echo ${version} > /www/index.html; echo ok > /www/health; exec httpd -f -p 8080 -h /www`;
const FLY_TOML = (image: string) => `app = "bench"

[build]
image = "${image}"

[http_service]
internal_port = 8080
auto_stop_machines = "off"

[[http_service.checks]]
interval = "1s"
timeout = "2s"
path = "/health"

[deploy]
strategy = "rolling"
max_unavailable = 1
`;

const dir = mkdtempSync(join(tmpdir(), 'hangar-bench-deploy-'));
const data = join(dir, 'data');
const netns = `hgr-bdep-${Math.random().toString(16).slice(2, 6)}`;
const registry = await startRegistry();
const { report, printTable } = figureTable();
const images: string[] = [];
for (const version of ['v1', 'v2']) {
  await pushImage(registry.host, 'bench/site', version, [{ compression: 'gzip', files: busyboxLayer(['sh', 'mkdir', 'echo', 'httpd']) }], {
    config: { Cmd: ['/bin/sh', '-c', APP(version)], Env: ['PATH=/bin'] },
  });
  images.push(`${registry.host}/bench/site:${version}`);
}
const path = join(dir, 'fly.toml');
writeFileSync(path, FLY_TOML(images[0] as string));

console.log(`machine: ${machineFacts()}`);
const server = await startServerProcess(data, 'bench', ['--driver', 'qemu', '--netns', netns, '--autostop-after', '1h', '--proxy-domain', DOMAIN]);
const api = (method: string, url: string, body?: unknown) => request(server, method, url, body);
const cli = cliWith({ HANGAR_API_URL: server.url, HANGAR_API_TOKEN: 'bench' });
const must = async (...argv: string[]) => {
  const run = await cli(...argv);
  if (run.code !== 0) throw new Error(`hangar ${argv.join(' ')} failed:\n${run.out}\n${run.err}`);
};
const machines = async () => (await api('GET', '/v1/apps/bench/machines')).body as Array<{ id: string; private_ip: string }>;
try {
  await must('deploy', '-c', path);
  await must('scale', 'count', '3', '-a', 'bench');
  const deploys: number[] = [];
  const restarts: number[] = [];
  let sent = 0;
  const failed: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    let restartTotal = 0;
    for (const machine of await machines()) {
      const start = performance.now();
      const reply = await api('POST', `/v1/apps/bench/machines/${machine.id}/restart`);
      if (reply.status !== 200) throw new Error(`restart: ${JSON.stringify(reply.body)}`);
      await sleep(200); // the old instance stops answering first
      await answered(`http://[${machine.private_ip}]:8080/`);
      restartTotal += performance.now() - start;
    }
    restarts.push(restartTotal);
    let sending = true;
    const load = (async () => {
      while (sending) {
        sent++;
        const answer = await viaProxy(server.proxyUrl, `bench.${DOMAIN}`, '/', 30_000).catch((error: Error) => ({ status: 0, body: error.message }));
        if (answer.status !== 200 || !/^v[12]$/.test(answer.body.trim())) failed.push(`${answer.status} ${answer.body.slice(0, 120)}`);
        await sleep(100);
      }
    })();
    const start = performance.now();
    try {
      await must('deploy', '-c', path, '--image', images[(round + 1) % 2] as string);
    } finally {
      deploys.push(performance.now() - start);
      sending = false;
      await load;
    }
    console.log(`round ${round + 1}: deploy ${deploys.at(-1)?.toFixed(0)} ms, three restarts ${restartTotal.toFixed(0)} ms`);
  }
  report('rolling deploy of 3 machines', formatTimes(deploys));
  report('baseline: the 3 machines restarted one after another', formatTimes(restarts));
  report('deploy ÷ restarts (p50)', (summarize(deploys).p50 / summarize(restarts).p50).toFixed(2));
  report('failed requests during the deploys', `${failed.length} of ${sent}`, failed.slice(0, 3).join('; '));
  printTable();
} finally {
  for (const machine of await machines().catch(() => [])) await api('DELETE', `/v1/apps/bench/machines/${machine.id}?force=true`).catch(() => undefined);
  await cleanUpRealServer(server, data, netns);
  await registry.stop();
  rmSync(dir, { recursive: true, force: true });
}
