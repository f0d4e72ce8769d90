/** The cluster's authority (src/system/cluster-pki.ts): identities issued, several at once. */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createAuthority, issueIdentity, loadIdentity } from '../../src/system/cluster-pki.ts';

describe('the cluster authority', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-pki-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('issues the identities of several hosts at once, each its own, signed, with a serial of its own', async () => {
    await createAuthority(join(dir, 'ca'));
    const ids = Array.from({ length: 8 }, (_, i) => `h${i + 1}`);
    await Promise.all(ids.map((id) => issueIdentity(join(dir, 'ca'), 'host', id, join(dir, id))));
    const serials = new Set<string>();
    for (const id of ids) {
      const identity = loadIdentity(join(dir, id));
      assert.deepEqual([identity.role, identity.name], ['host', id]);
      serials.add(new X509Certificate(readFileSync(join(dir, id, 'cert.pem'))).serialNumber);
    }
    assert.equal(serials.size, ids.length);
  });
});
