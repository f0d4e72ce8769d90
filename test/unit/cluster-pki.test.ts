/**
 * The cluster's identities (src/system/cluster-pki.ts): an authority, and
 * certificates that name one replica or one host, issued by openssl.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createAuthority, issueIdentity, loadIdentity } from '../../src/system/cluster-pki.ts';

describe('cluster identities', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-pki-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('issues many identities from one authority at once, each naming its own role and name, with serials of their own', async () => {
    assert.equal(await createAuthority(join(dir, 'ca')), true);
    assert.equal(await createAuthority(join(dir, 'ca')), false, 'an authority already there is kept');
    const names = Array.from({ length: 16 }, (_, i) => `h-${i}`);
    await Promise.all([
      ...names.map((name) => issueIdentity(join(dir, 'ca'), 'host', name, join(dir, name))),
      issueIdentity(join(dir, 'ca'), 'replica', 'api', join(dir, 'api')),
    ]);
    const serials = new Set<string>();
    for (const name of names) {
      const identity = loadIdentity(join(dir, name));
      assert.deepEqual([identity.role, identity.name], ['host', name]);
      serials.add(new X509Certificate(identity.cert).serialNumber);
    }
    assert.deepEqual([loadIdentity(join(dir, 'api')).role, loadIdentity(join(dir, 'api')).name], ['replica', 'api']);
    assert.equal(serials.size, names.length);
  });

  it('refuses an identity another authority signed, and names that could reach openssl as options', async () => {
    await createAuthority(join(dir, 'other-ca'));
    await issueIdentity(join(dir, 'other-ca'), 'host', 'fra-1', join(dir, 'forged'));
    copyFileSync(join(dir, 'ca', 'ca.crt'), join(dir, 'forged', 'ca.crt'));
    assert.throws(() => loadIdentity(join(dir, 'forged')), /is not signed by/);
    for (const name of ['-days', 'FRA', 'a/b', '', 'x'.repeat(64)]) {
      await assert.rejects(issueIdentity(join(dir, 'ca'), 'host', name, join(dir, 'bad')), /lowercase letters/);
    }
    assert.match(readFileSync(join(dir, 'h-0', 'cert.pem'), 'utf8'), /BEGIN CERTIFICATE/);
  });
});
