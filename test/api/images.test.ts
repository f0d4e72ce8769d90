import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testHangar, TOKEN, type TestHangar } from '../helpers/hangar.ts';

describe('image pull endpoint', () => {
  let t: TestHangar;
  before(async () => { t = await testHangar(); });
  after(() => t.close());

  const pull = (payload: unknown, authorized = true) => t.hangar.app.inject({
    method: 'POST', url: '/hangar/v1/images/pull', payload: payload as object,
    headers: authorized ? { authorization: `Bearer ${TOKEN}` } : {},
  });

  it('streams progress as JSON lines and ends with the resolved reference', async () => {
    const reply = await pull({ image: 'registry.test/hello:1' });
    assert.equal(reply.statusCode, 200);
    assert.equal(reply.headers['content-type'], 'application/x-ndjson');
    const lines = reply.body.trimEnd().split('\n').map((line) => JSON.parse(line));
    assert.equal(lines.at(-1).status, 'ready');
    assert.deepEqual(
      [lines.at(-1).image_ref.registry, lines.at(-1).image_ref.repository, lines.at(-1).image_ref.tag],
      ['registry.test', 'hello', '1'],
    );
    assert.match(lines.at(-1).image_ref.digest, /^sha256:[0-9a-f]{64}$/);
    assert.ok(lines.slice(0, -1).every((line) => line.status !== 'ready' && line.status !== 'error'));
  });

  it('refuses bad references before pulling, and callers without the token', async () => {
    const bad = await pull({ image: 'UPPER/Case' });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().error, /invalid repository/);
    assert.equal((await pull({ image: 'oci:relative/dir' })).statusCode, 400);
    assert.equal((await pull({})).statusCode, 400);
    assert.equal((await pull({ image: 5 })).statusCode, 400);
    assert.equal((await pull({ image: 'registry.test/hello:1' }, false)).statusCode, 401);
  });
});
