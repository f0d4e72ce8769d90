/** API tokens flyctl can send as they are (system/data-dir.ts): never one it takes for a Fly macaroon, or splits. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadOrCreateToken, TOKEN_FILE } from '../../src/system/data-dir.ts';

describe('API token forms', () => {
  it('makes tokens flyctl sends whole, and refuses ones it would drop or split, from the environment or the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hangar-token-'));
    try {
      const made = loadOrCreateToken(dir, undefined).value;
      assert.match(made, /^hgr_[A-Za-z0-9_-]+$/);
      assert.doesNotMatch(made, /^(fm1r_|fm1a_|fm2_)|,/);
      for (const bad of ['fm2_abc', 'fm1r_x', 'fm1a_y', 'one,two', 'has space']) {
        assert.throws(() => loadOrCreateToken(dir, bad), /flyctl drops a token/, bad);
      }
      assert.equal(loadOrCreateToken(dir, 'plain-token_1').value, 'plain-token_1');
      writeFileSync(join(dir, TOKEN_FILE), 'fm2_handedited\n');
      assert.throws(() => loadOrCreateToken(dir, undefined), /in .*api-token cannot be used/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
