/**
 * Suspend and resume under load: 4 real machines, 15 suspend → start cycles each,
 * all at once. Every start must be a resume (`resumed: true`) with the guest's
 * memory intact; a resume that failed for nothing (QEMU closing the migration
 * socket once it had read the whole state was once counted as a failure) shows
 * here as a cold boot. A bigger run: bench/suspend-stress.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { busyboxLayer } from '../helpers/image-build.ts';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.ts';
import { cleanUpRealServer, request, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';
import { failedCycles, suspendResumeCycles } from '../helpers/suspend-cycles.ts';

const MACHINES = 4;
const CYCLES = 15;
const APP = 'mkdir -p /www; echo up > /www/index.html; exec httpd -f -p 8080 -h /www';

describe('suspend and resume under load', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-stress-'));
  const data = join(dir, 'data');
  const netns = `hgr-strs-${Math.random().toString(16).slice(2, 6)}`;
  let registry: Registry;
  let server: ServerProcess;

  before(async () => {
    registry = await startRegistry();
    await pushImage(registry.host, 'stress/app', '1', [{ compression: 'gzip', files: busyboxLayer(['sh', 'cat', 'echo', 'mkdir', 'httpd']) }], {
      config: { Cmd: ['/bin/sh', '-c', APP], Env: ['PATH=/bin'] },
    });
    server = await startServerProcess(data, 'stress-token', ['--driver', 'qemu', '--netns', netns]);
    assert.equal((await request(server, 'POST', '/v1/apps', { name: 'stress' })).status, 201);
  });

  after(async () => {
    await cleanUpRealServer(server, data, netns);
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`resumes every time: ${MACHINES} machines × ${CYCLES} cycles in parallel`, async () => {
    const ids: string[] = [];
    for (let i = 0; i < MACHINES; i++) {
      const reply = await request(server, 'POST', '/v1/apps/stress/machines', { config: { image: `${registry.host}/stress/app:1`, guest: { cpus: 1, memory_mb: 256 }, restart: { policy: 'no' } } });
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      ids.push(reply.body.id);
    }
    for (const id of ids) assert.equal((await request(server, 'GET', `/v1/apps/stress/machines/${id}/wait?state=started&timeout=60`)).status, 200);
    const outcomes = await suspendResumeCycles(server, 'stress', ids, CYCLES);
    assert.equal(outcomes.length, MACHINES * CYCLES);
    assert.deepEqual(failedCycles(outcomes), [], 'every start resumed, memory intact');
    for (const id of ids) assert.equal((await request(server, 'DELETE', `/v1/apps/stress/machines/${id}?force=true`)).status, 200);
  });
});
