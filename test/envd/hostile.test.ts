/**
 * hangar-envd under hostile input: malformed and oversized envelopes, bodies that
 * are not their message, bad UTF-8 and NUL bytes, wrong content types and
 * methods, paths that climb out, and requests without the access token or with a
 * forged or expired signature. Each gets an error answer, and the agent keeps
 * serving.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ENVD_BINARY, type RunningEnvd, startEnvd } from '../helpers/envd.ts';
import { freePort } from '../helpers/registry.ts';

const TOKEN = 'envd-test-token';

function envelope(flags: number, body: Buffer | string, length?: number): Buffer {
  const data = Buffer.from(body);
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(length ?? data.length, 1);
  return Buffer.concat([head, data]);
}

/** The messages of a Connect stream answer, and its end-stream message. */
function unenvelope(bytes: Buffer): { messages: unknown[]; end: any } { // eslint-disable-line @typescript-eslint/no-explicit-any
  const messages: unknown[] = [];
  let end;
  for (let offset = 0; offset + 5 <= bytes.length;) {
    const flags = bytes[offset] as number;
    const size = bytes.readUInt32BE(offset + 1);
    const json = JSON.parse(bytes.subarray(offset + 5, offset + 5 + size).toString());
    if (flags & 2) end = json;
    else messages.push(json);
    offset += 5 + size;
  }
  return { messages, end };
}

describe('hangar-envd, hostile input', () => {
  let envd: RunningEnvd;
  const dir = mkdtempSync(join(tmpdir(), 'hangar-envd-hostile-'));
  const auth = { 'x-access-token': TOKEN };
  const stream = async (path: string, body: Buffer, headers: Record<string, string> = auth) => {
    const reply = await fetch(`${envd.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/connect+json', ...headers }, body });
    return { status: reply.status, ...unenvelope(Buffer.from(await reply.arrayBuffer())) };
  };
  const unary = async (path: string, body: string | Buffer, headers: Record<string, string> = auth) => {
    const reply = await fetch(`${envd.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    return { status: reply.status, body: await reply.json() as { code: string; message: string } };
  };

  before(async () => {
    envd = await startEnvd({ HANGAR_ENVD_TOKEN: TOKEN }, await freePort());
  });
  after(async () => {
    await envd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ends a stream with an error for envelopes that are cut short, oversized, compressed or not the message', async () => {
    const cases: Array<[Buffer, string]> = [
      [Buffer.from([0, 0]), 'invalid_argument'],
      [envelope(0, '{}', 0xffffffff), 'resource_exhausted'],
      [envelope(0, '{"process":', 100), 'invalid_argument'],
      [envelope(1, '{}'), 'invalid_argument'],
      [envelope(0, '{"process":{"cmd":7}}'), 'invalid_argument'],
      [envelope(0, '[1,2,3]'), 'invalid_argument'],
      [envelope(0, '{}'), 'invalid_argument'],
    ];
    for (const [body, code] of cases) {
      const answer = await stream('/process.Process/Start', body);
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.messages, []);
      assert.equal(answer.end?.error?.code, code, `${body.subarray(0, 12).toString('hex')}: ${JSON.stringify(answer.end)}`);
    }
  });

  it('answers unary calls that are not their message, or not JSON, with Connect errors', async () => {
    assert.deepEqual((await unary('/filesystem.Filesystem/Stat', '{"path":')).status, 400);
    assert.equal((await unary('/filesystem.Filesystem/Stat', '{"path":{"x":1}}')).body.code, 'invalid_argument');
    assert.equal((await unary('/filesystem.Filesystem/ListDir', JSON.stringify({ path: '/', depth: -1 }))).body.code, 'invalid_argument');
    assert.equal((await unary('/process.Process/SendSignal', '{"process":{"pid":1},"signal":"SIGNAL_SIGHUP"}')).body.code, 'invalid_argument');
    assert.equal((await unary('/filesystem.Filesystem/Stat', Buffer.concat([Buffer.from('{"path":"/tmp/'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]))).status, 404, 'bad UTF-8 is a path like any other');
    assert.equal((await unary('/filesystem.Filesystem/Stat', JSON.stringify({ path: `${dir}/a\u0000b` }))).body.code, 'invalid_argument');
    assert.equal((await unary('/filesystem.Filesystem/Remove', JSON.stringify({ path: '/' }))).body.code, 'invalid_argument');
    const big = await fetch(`${envd.url}/filesystem.Filesystem/Stat`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ path: 'x'.repeat(5 << 20) }) });
    assert.equal(((await big.json()) as { code: string }).code, 'resource_exhausted');
    const proto = await fetch(`${envd.url}/filesystem.Filesystem/Stat`, { method: 'POST', headers: { 'content-type': 'application/proto', ...auth }, body: '' });
    assert.equal(proto.status, 415);
    assert.equal((await fetch(`${envd.url}/filesystem.Filesystem/Stat`, { headers: auth })).status, 405);
    assert.equal((await fetch(`${envd.url}/nothing.Here/At`, { method: 'POST', headers: auth })).status, 404);
  });

  it('refuses RPCs and file transfers without the token, takes a signature for files, and not a forged or expired one', async () => {
    assert.equal((await fetch(`${envd.url}/health`)).status, 204, 'health needs no token');
    assert.equal((await unary('/process.Process/List', '{}', {})).status, 401);
    assert.equal((await unary('/process.Process/List', '{}', { 'x-access-token': 'wrong' })).status, 401);
    writeFileSync(join(dir, 'secret.txt'), 'inside');
    const path = join(dir, 'secret.txt');
    assert.equal((await fetch(`${envd.url}/files?path=${encodeURIComponent(path)}`)).status, 401);
    const sign = (operation: string, expiration?: number) => 'v1_' + createHash('sha256').update(`${path}:${operation}::${TOKEN}${expiration ? `:${expiration}` : ''}`).digest('base64').replace(/=+$/, '');
    const signed = await fetch(`${envd.url}/files?path=${encodeURIComponent(path)}&signature=${encodeURIComponent(sign('read'))}`);
    assert.deepEqual([signed.status, await signed.text()], [200, 'inside']);
    assert.equal((await fetch(`${envd.url}/files?path=${encodeURIComponent(path)}&signature=${encodeURIComponent(sign('write'))}`)).status, 401, 'a write signature does not read');
    const past = Math.floor(Date.now() / 1000) - 10;
    assert.equal((await fetch(`${envd.url}/files?path=${encodeURIComponent(path)}&signature=${encodeURIComponent(sign('read', past))}&signature_expiration=${past}`)).status, 401, 'expired');
  });

  it('answers file routes sent nonsense with errors: no path, a directory, a bad multipart or gzip body, climbing paths made plain', async () => {
    const post = (query: string, body: string | Buffer, headers: Record<string, string>) => fetch(`${envd.url}/files?${query}`, { method: 'POST', headers: { ...auth, ...headers }, body });
    assert.equal((await post('', 'x', { 'content-type': 'application/octet-stream' })).status, 400);
    assert.equal((await post(`path=${encodeURIComponent(dir)}`, 'x', { 'content-type': 'application/octet-stream' })).status, 400, 'a directory is not replaced');
    assert.equal((await post(`path=${encodeURIComponent(`${dir}/z`)}`, 'not gzip', { 'content-type': 'application/octet-stream', 'content-encoding': 'gzip' })).status, 400);
    assert.equal((await post('', '--nope\r\n', { 'content-type': 'multipart/form-data; boundary=nope' })).status, 400);
    assert.equal((await post(`path=${encodeURIComponent(`${dir}/z`)}`, 'x', { 'content-type': 'text/plain' })).status, 415);
    assert.equal((await fetch(`${envd.url}/files?path=${encodeURIComponent(dir)}`, { headers: auth })).status, 400);
    const climbed = await post(`path=${encodeURIComponent(`${dir}/a/../../${dir.split('/').at(-1)}/plain.txt`)}`, 'ok', { 'content-type': 'application/octet-stream' });
    assert.equal(climbed.status, 200);
    assert.equal(((await climbed.json()) as Array<{ path: string }>)[0]?.path, `${dir}/plain.txt`, 'the path made plain before use');
    assert.equal((await fetch(`${envd.url}/health`)).status, 204, 'still serving');
  });

  it('answers 400 random bodies sent to every route (a seeded fuzz) with errors, never going down', async () => {
    let seed = 26;
    const random = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
    const routes = ['/process.Process/Start', '/process.Process/Connect', '/process.Process/SendInput', '/process.Process/SendSignal', '/process.Process/Update',
      '/filesystem.Filesystem/Stat', '/filesystem.Filesystem/ListDir', '/filesystem.Filesystem/Move', '/filesystem.Filesystem/WatchDir', '/filesystem.Filesystem/GetWatcherEvents', '/files'];
    const types = ['application/json', 'application/connect+json', 'multipart/form-data; boundary=x', 'application/octet-stream'];
    for (let i = 0; i < 400; i++) {
      const route = routes[Math.floor(random() * routes.length)] as string;
      const type = types[Math.floor(random() * types.length)] as string;
      const raw = bytes(Math.floor(random() * 64));
      // Half of them are enveloped, with a length that may lie.
      const body = random() < 0.5 ? envelope(Math.floor(random() * 4), raw, random() < 0.3 ? Math.floor(random() * 2 ** 32) : undefined) : raw;
      const reply = await fetch(`${envd.url}${route}?path=${encodeURIComponent(`${dir}/fuzz-${i}`)}`, { method: 'POST', headers: { ...auth, 'content-type': type }, body });
      await reply.arrayBuffer();
      assert.ok(reply.status < 500 || reply.status === 501, `${route} ${type}: ${reply.status}`);
    }
    assert.equal((await fetch(`${envd.url}/health`)).status, 204, 'still serving');
  });

  it('takes a new token and variables on its control socket only (hangar-envd -init), as after a fork', async () => {
    const init = (body: string) => new Promise<number>((resolve) => {
      const child = spawn(ENVD_BINARY, ['-init', '-control', envd.control], { stdio: ['pipe', 'ignore', 'ignore'] });
      child.on('exit', (code) => resolve(code ?? -1));
      child.stdin?.end(body);
    });
    assert.notEqual(await init('not json'), 0);
    assert.equal(await init(JSON.stringify({ accessToken: 'second-token', envVars: { ADDED: 'yes' } })), 0);
    assert.equal((await unary('/process.Process/List', '{}')).status, 401, 'the old token no longer works');
    assert.equal((await unary('/process.Process/List', '{}', { 'x-access-token': 'second-token' })).status, 200);
    assert.equal((await fetch(`${envd.url}/init`, { method: 'POST', headers: { 'x-access-token': 'second-token' }, body: '{}' })).status, 404, 'not on its network port');
    assert.equal(statSync(envd.control).mode & 0o777, 0o600);
  });
  it('keeps resource samples, and prints them on its control socket only (hangar-envd -metrics)', async () => {
    const printed = await new Promise<{ code: number; out: string }>((resolve) => {
      const child = spawn(ENVD_BINARY, ['-metrics', '-control', envd.control], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      child.stdout?.on('data', (chunk) => { out += chunk; });
      child.on('exit', (code) => resolve({ code: code ?? -1, out }));
    });
    assert.equal(printed.code, 0);
    const { now, samples } = JSON.parse(printed.out) as { now: number; samples: Array<Record<string, number>> };
    assert.ok(Math.abs(now - Date.now()) < 5000, 'its clock, here the host\'s');
    const first = samples[0] as Record<string, number>;
    assert.ok(samples.length >= 1 && (first.ts as number) <= now, 'one taken at start');
    assert.ok((first.cpuCount as number) >= 1 && (first.cpuUsedPct as number) >= 0 && (first.cpuUsedPct as number) <= 100);
    assert.ok((first.memTotal as number) > (first.memUsed as number) && (first.memUsed as number) > 0, 'memory from /proc/meminfo, in bytes');
    assert.ok((first.diskTotal as number) >= (first.diskUsed as number) && (first.diskTotal as number) > 0, 'the root filesystem');
    assert.equal((await fetch(`${envd.url}/metrics`)).status, 404, 'not on its network port');
  });
});
