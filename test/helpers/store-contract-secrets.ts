/** The Store contract for app secrets (see store-contract.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SecretRecord } from '../../src/domain/secrets.ts';
import { AppGoneError } from '../../src/store/errors.ts';
import { app, type OpenStore } from './store-fixtures.ts';

const secret = (name: string, sealed: string, at = 1000): SecretRecord => ({ name, sealed, digest: `d-${sealed}`, createdAt: at, updatedAt: at });

export function secretContract(open: OpenStore): void {
  describe('app secrets', () => {
    it('changes an app\'s secrets in one write that moves its version on by one, and reads them back by name', async () => {
      const { store, reopen } = await open();
      await store.createApp(app('a'));
      await store.createApp(app('b'));
      assert.deepEqual(await store.readSecrets('a'), { version: 0, secrets: [] });
      const first = await store.changeSecrets('a', (now) => {
        assert.deepEqual(now, { version: 0, secrets: [] });
        return { set: [secret('B', 's1'), secret('A', 's2')], unset: [] };
      });
      assert.deepEqual(first, { version: 1, secrets: [secret('A', 's2'), secret('B', 's1')] });
      const second = await store.changeSecrets('a', () => ({ set: [{ ...secret('A', 's3', 1000), updatedAt: 2000 }], unset: ['B', 'NEVER_SET'] }));
      assert.deepEqual(second, { version: 2, secrets: [{ ...secret('A', 's3'), updatedAt: 2000 }] });
      assert.deepEqual(await (await reopen()).readSecrets('a'), second, 'another replica reads the same');
      assert.deepEqual(await store.readSecrets('b'), { version: 0, secrets: [] }, 'other apps keep theirs');
      assert.deepEqual(await store.readSecretRecords('a'), second.secrets);
      assert.deepEqual(await store.listAppsWithSecrets(), ['a']);
    });

    it('writes nothing when the change is refused, or the app is missing or being deleted', async () => {
      const { store } = await open();
      await store.createApp(app('a'));
      await store.changeSecrets('a', () => ({ set: [secret('A', 's1')], unset: [] }));
      await assert.rejects(store.changeSecrets('a', () => { throw new Error('refused'); }), /refused/);
      assert.deepEqual(await store.readSecrets('a'), { version: 1, secrets: [secret('A', 's1')] });
      await assert.rejects(store.changeSecrets('nope', () => ({ set: [secret('A', 's')], unset: [] })), (error) => error instanceof AppGoneError && error.why === 'missing');
      await store.markAppDeleting('a');
      await assert.rejects(store.changeSecrets('a', () => ({ set: [], unset: ['A'] })), (error) => error instanceof AppGoneError && error.why === 'deleting');
    });

    it('takes concurrent changes one after the other: each sees the one before', async () => {
      const { store, reopen } = await open();
      await store.createApp(app('a'));
      const other = await reopen();
      const seen: number[] = [];
      await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? other : store).changeSecrets('a', (now) => {
        seen.push(now.version);
        return { set: [secret(`S${i}`, `v${i}`)], unset: [] };
      })));
      assert.deepEqual(seen.sort(), [0, 1, 2, 3, 4, 5]);
      assert.equal((await store.readSecrets('a')).version, 6);
    });

    it('reseals a secret only if it is still sealed as read, keeping its version', async () => {
      const { store } = await open();
      await store.createApp(app('a'));
      await store.changeSecrets('a', () => ({ set: [secret('A', 'old')], unset: [] }));
      assert.equal(await store.resealSecret('a', 'A', 'other', 'new'), false);
      assert.equal(await store.resealSecret('a', 'A', 'old', 'new'), true);
      assert.deepEqual(await store.readSecrets('a'), { version: 1, secrets: [{ ...secret('A', 'new'), digest: 'd-old' }] });
    });

    it('goes with its app', async () => {
      const { store } = await open();
      await store.createApp(app('a'));
      await store.changeSecrets('a', () => ({ set: [secret('A', 's')], unset: [] }));
      await store.deleteApp('a');
      await store.createApp(app('a'));
      assert.deepEqual(await store.readSecrets('a'), { version: 0, secrets: [] });
    });
  });
}
