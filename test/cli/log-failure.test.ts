/**
 * `hangar serve` survives its own log output failing: with stdout on /dev/full
 * (every write fails with ENOSPC, as on a full disk) it keeps answering.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HANGAR } from '../helpers/server-process.ts';

describe('log output failing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-logfail-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the server answering when every log line fails to be written', async () => {
    const full = openSync('/dev/full', 'w');
    const child = spawn(HANGAR, ['serve', '--driver', 'fake', '--fake-timing', 'instant', '--data-dir', join(dir, 'data'), '--api-listen', '127.0.0.1:0',
      '--proxy-listen', '127.0.0.1:0', '--proxy-tls-listen', 'off', '--log-level', 'trace'], {
      env: { ...process.env, HANGAR_API_TOKEN: 'log-token' },
      stdio: ['ignore', full, 'pipe'],
    });
    try {
      let banner = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr?.on('data', (chunk) => {
          banner += chunk;
          const match = /hangar (http:\/\/[\d.:]+)/.exec(banner);
          if (match) resolve(match[1] as string);
        });
        child.once('exit', (code) => reject(new Error(`hangar serve exited (${code}): ${banner}`)));
      });
      const headers = { authorization: 'Bearer log-token', 'content-type': 'application/json' };
      const created = await fetch(`${url}/v1/apps`, { method: 'POST', headers, body: JSON.stringify({ name: 'noisy' }), signal: AbortSignal.timeout(5000) });
      assert.equal(created.status, 201);
      for (let i = 0; i < 50; i++) {
        const reply = await fetch(`${url}/v1/apps/noisy`, { headers, signal: AbortSignal.timeout(5000) });
        assert.equal(reply.status, 200);
      }
      const machine = await fetch(`${url}/v1/apps/noisy/machines`, { method: 'POST', headers, body: JSON.stringify({ config: { image: 'registry.test/x:1' } }), signal: AbortSignal.timeout(5000) });
      assert.equal(machine.status, 200);
      assert.equal(child.exitCode, null, 'still running');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
