/**
 * App secrets through the API, as fly-go's flaps client sends them
 * (flaps_secrets.go, secrets_types.go): set, list, unset, one at a time; what
 * machines get; what is refused; and that no value leaves, in any answer or log
 * line.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { flyGo, type GoType, goDecodeErrors } from '../helpers/fly-go.ts';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';
import { SecretKeys } from '../../src/system/secret-keys.ts';

const CANARY = 'canary-7f3e9b1c5d';
const str: GoType = { kind: 'string' };
const uint64: GoType = { kind: 'int', min: 0, max: Number.MAX_SAFE_INTEGER };
/** fly.AppSecret, fly.ListAppSecretsResp, fly.UpdateAppSecretsResp, fly.SetAppSecretResp, fly.DeleteAppSecretResp. */
const AppSecretFields = { name: str, value: str, digest: str, updated_at: str, created_at: str };
const AppSecret: GoType = { kind: 'struct', name: 'AppSecret', fields: AppSecretFields };
const ListAppSecretsResp: GoType = { kind: 'struct', name: 'ListAppSecretsResp', fields: { secrets: { kind: 'slice', of: AppSecret } } };
const UpdateAppSecretsResp: GoType = { kind: 'struct', name: 'UpdateAppSecretsResp', fields: { secrets: { kind: 'slice', of: AppSecret }, version: uint64 } };
const SetAppSecretResp: GoType = { kind: 'struct', name: 'SetAppSecretResp', fields: { ...AppSecretFields, version: uint64 } };
const DeleteAppSecretResp: GoType = { kind: 'struct', name: 'DeleteAppSecretResp', fields: { version: uint64 } };

function decoded(reply: { status: number; text: string }, type: GoType): any { // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(reply.status, 200, reply.text);
  const json = JSON.parse(reply.text);
  assert.deepEqual(goDecodeErrors(json, type), []);
  return json;
}

describe('app secrets', () => {
  let t: TestHangar;
  let logged = '';
  const said: string[] = [];
  const call = async (method: string, url: string, body?: unknown) => {
    const reply = await t.call(method, url, body);
    said.push(JSON.stringify(reply.body));
    return reply;
  };
  const printenv = async (app: string, id: string, name: string) => {
    // The guest's own output holds values, as it should: not counted among the answers.
    const reply = await t.call('POST', `/v1/apps/${app}/machines/${id}/exec`, { command: ['printenv', name] });
    return reply.body.stdout?.trim() as string;
  };

  before(async () => {
    const sink = new Writable({ write(chunk, _encoding, done) { logged += chunk.toString(); done(); } });
    t = await testHangar({ logger: pino({ level: 'debug' }, sink) });
    await t.app('sec');
  });
  after(() => t.close());

  it('UpdateAppSecrets sets and unsets in one change that fly-go decodes, moving the version on by one', async () => {
    const body = JSON.stringify({ values: { DATABASE_URL: `postgres://${CANARY}`, API_KEY: 'k1', GONE: null } });
    const updated = decoded(await flyGo(t, { method: 'POST', path: '/apps/sec/secrets', body }), UpdateAppSecretsResp);
    assert.equal(updated.version, 1);
    assert.deepEqual(updated.secrets.map((secret: { name: string }) => secret.name), ['API_KEY', 'DATABASE_URL']);
    for (const secret of updated.secrets) {
      assert.match(secret.digest, /^[0-9a-f]{16}$/);
      assert.equal(secret.value, undefined, 'no value is ever answered');
    }
    const listed = decoded(await flyGo(t, { method: 'GET', path: '/apps/sec/secrets?show_secrets=true&version=1' }), ListAppSecretsResp);
    assert.deepEqual(listed.secrets, updated.secrets, 'listed as set, and still without values when asked for them');
    const unset = decoded(await flyGo(t, { method: 'POST', path: '/apps/sec/secrets', body: '{"values":{"API_KEY":null}}' }), UpdateAppSecretsResp);
    assert.equal(unset.version, 2);
    assert.deepEqual(unset.secrets.map((secret: { name: string }) => secret.name), ['DATABASE_URL']);
    assert.equal(unset.secrets[0].digest, updated.secrets[1].digest, 'an unchanged value keeps its digest');
  });

  it('sets, reads and deletes one secret at a time (SetAppSecret, GetAppSecrets, DeleteAppSecret)', async () => {
    const set = decoded(await flyGo(t, { method: 'POST', path: '/apps/sec/secrets/ONE', body: '{"value":"1"}' }), SetAppSecretResp);
    assert.deepEqual([set.name, set.version], ['ONE', 3]);
    const got = decoded(await flyGo(t, { method: 'GET', path: '/apps/sec/secrets/ONE' }), AppSecret);
    assert.deepEqual([got.name, got.digest], ['ONE', set.digest]);
    assert.equal(decoded(await flyGo(t, { method: 'DELETE', path: '/apps/sec/secrets/ONE' }), DeleteAppSecretResp).version, 4);
    assert.equal((await call('GET', '/v1/apps/sec/secrets/ONE')).status, 404);
    assert.equal((await call('DELETE', '/v1/apps/sec/secrets/ONE')).status, 404);
    assert.equal((await call('GET', '/v1/apps/nope/secrets')).status, 404);
  });

  it('gives every machine of the app its secrets when it boots, over its config\'s env', async () => {
    const m = await t.machine('sec', { config: { image: 'registry.test/hello:1', env: { DATABASE_URL: 'from-env', PLAIN: 'p' } } });
    await t.waitFor('sec', m.id, 'started');
    assert.equal(await printenv('sec', m.id, 'DATABASE_URL'), `postgres://${CANARY}`, 'the secret wins over the env');
    assert.equal(await printenv('sec', m.id, 'PLAIN'), 'p');
    // Set after the machine booted: it has it once it boots again.
    await call('POST', '/v1/apps/sec/secrets', { values: { LATER: 'l' } });
    assert.equal(await printenv('sec', m.id, 'LATER'), '');
    assert.equal((await call('POST', `/v1/apps/sec/machines/${m.id}/restart`, {})).status, 200);
    await t.waitFor('sec', m.id, 'started');
    assert.equal(await printenv('sec', m.id, 'LATER'), 'l');
    // A process that names its secrets gets those alone, under the names it gives.
    const picky = await t.machine('sec', { config: { image: 'registry.test/hello:1', processes: [{ secrets: [{ env_var: 'DB', name: 'DATABASE_URL' }] }] } });
    await t.waitFor('sec', picky.id, 'started');
    assert.equal(await printenv('sec', picky.id, 'DB'), `postgres://${CANARY}`);
    assert.equal(await printenv('sec', picky.id, 'LATER'), '');
    // flyctl passes the version its last change made; one not reached yet is refused, as is booting without the secrets.
    const { version } = (await call('POST', '/v1/apps/sec/secrets', { values: { LATER: 'l2' } })).body;
    assert.equal((await call('POST', '/v1/apps/sec/machines', { config: { image: 'registry.test/hello:1' }, min_secrets_version: version, skip_secrets: false })).status, 200);
    const ahead = await call('POST', '/v1/apps/sec/machines', { config: { image: 'registry.test/hello:1' }, min_secrets_version: version + 1 });
    assert.equal(ahead.status, 400);
    assert.match(ahead.body.error, new RegExp(`min_secrets_version ${version + 1}: the secrets of app sec are at version ${version}`));
    assert.equal((await call('POST', '/v1/apps/sec/machines', { config: { image: 'registry.test/hello:1' }, skip_secrets: true })).status, 400);
    const config = (await call('GET', `/v1/apps/sec/machines/${m.id}`)).body.config;
    assert.deepEqual(config.env, { DATABASE_URL: 'from-env', PLAIN: 'p' }, 'the machine\'s config holds no secret');
  });

  it('refuses bad names, values over 64 KiB, more than 1,000 secrets and values that are not strings, naming the field and changing nothing', async () => {
    const before = (await call('GET', '/v1/apps/sec/secrets')).body;
    const refused = async (values: unknown, field: RegExp) => {
      const reply = await call('POST', '/v1/apps/sec/secrets', { values });
      assert.equal(reply.status, 400, JSON.stringify(reply.body));
      assert.match(reply.body.error, field);
    };
    await refused({ '1BAD': 'x' }, /values\."1BAD"/);
    await refused({ 'HAS-DASH': 'x' }, /values\."HAS-DASH"/);
    await refused({ BIG: 'x'.repeat(64 * 1024 + 1) }, /values\.BIG: .*at most 65536 bytes/);
    await refused({ NUM: 5 }, /values\.NUM must be a string/);
    await refused(['A'], /values must be an object/);
    await refused({}, /at least one secret/);
    await refused(Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`S${i}`, 'v'])), /at most 1000 secrets/);
    assert.equal((await call('POST', '/v1/apps/sec/secrets/ONE', { value: 7 })).status, 400);
    assert.deepEqual((await call('GET', '/v1/apps/sec/secrets')).body, before, 'nothing changed');
  });

  it('never lets a value out: no answer and no log line holds one', async () => {
    const m = await t.machine('sec');
    await t.waitFor('sec', m.id, 'started');
    for (const url of [`/v1/apps/sec/machines/${m.id}`, `/v1/apps/sec/machines/${m.id}/events`, '/v1/apps/sec/machines', '/v1/apps/sec/secrets']) {
      said.push(JSON.stringify((await call('GET', url)).body));
    }
    said.push((await t.hangar.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer test-token-123' } })).body);
    assert.ok(logged.includes('secrets of app sec changed'), 'the log says what changed');
    assert.ok(!logged.includes(CANARY), 'no log line holds a value');
    assert.ok(!said.some((text) => text.includes(CANARY)), 'no answer holds a value');
  });

  it('rotates its key: a ring with a new key first opens the old, rekey seals everything anew, and then the old key can go', async () => {
    const [oldKey, newKey] = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
    const dir = mkdtempSync(join(tmpdir(), 'hangar-rekey-'));
    const open = (keys: string) => testHangar({ dir, keepDir: true, secrets: SecretKeys.parse(keys, 'test') });
    try {
      let h = await open(oldKey);
      await h.app('rot');
      await h.call('POST', '/v1/apps/rot/secrets', { values: { A: 'a-value', B: 'b-value' } });
      await h.close();
      h = await open(`${newKey}\n${oldKey}`);
      const rekeyed = await h.call('POST', '/hangar/v1/secrets/rekey', {});
      assert.deepEqual(rekeyed.body, { resealed: 2, apps: 1 });
      assert.deepEqual((await h.call('POST', '/hangar/v1/secrets/rekey', {})).body, { resealed: 0, apps: 1 }, 'once is enough');
      await h.close();
      h = await open(newKey);
      const m = await h.machine('rot');
      await h.waitFor('rot', m.id, 'started');
      const printed = await h.call('POST', `/v1/apps/rot/machines/${m.id}/exec`, { command: ['printenv', 'A'] });
      assert.equal(printed.body.stdout, 'a-value\n', 'the new key alone opens them');
      assert.equal((await h.call('GET', '/v1/apps/rot/secrets')).body.secrets.length, 2);
      await h.close();
      // A machine of an app whose secrets no key of the ring opens does not boot without them.
      h = await open(randomBytes(32).toString('base64'));
      const refused = await h.machine('rot');
      await h.waitFor('rot', refused.id, 'failed');
      assert.match(JSON.stringify((await h.call('GET', `/v1/apps/rot/machines/${refused.id}`)).body.events), /not in the keyring/);
      await h.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses secrets, saying why, where no key was given', async () => {
    const keyless = await testHangar({ secrets: null });
    try {
      await keyless.app('kk');
      const reply = await keyless.call('POST', '/v1/apps/kk/secrets', { values: { A: 'b' } });
      assert.equal(reply.status, 412);
      assert.match(reply.body.error, /no secrets key/);
    } finally {
      await keyless.close();
    }
  });
});
