/** The Store contract for app releases (see store-contract.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ReleaseRecord } from '../../src/domain/releases.ts';
import { AppGoneError, DuplicateError } from '../../src/store/errors.ts';
import { app, type OpenStore } from './store-fixtures.ts';

const release = (appName: string, version: number, at = 1000): ReleaseRecord => ({
  id: `rel-${appName}-${version}`, appName, version, image: `registry.test/${appName}:v${version}`, strategy: 'rolling',
  status: 'running', reason: '', description: '', configDigest: `d${version}`, config: { app: appName, env: { V: String(version) } },
  files: {}, createdAt: at, updatedAt: at,
});

export function releaseContract(open: OpenStore): void {
  describe('app releases', () => {
    it('numbers an app\'s releases from 1 and lists them newest first, each app on its own', async () => {
      const { store, reopen } = await open();
      await store.createApp(app('a'));
      await store.createApp(app('b'));
      const made: number[] = [];
      for (let i = 0; i < 3; i += 1) made.push((await store.createRelease('a', (version) => release('a', version))).version);
      assert.deepEqual(made, [1, 2, 3]);
      assert.equal((await store.createRelease('b', (version) => release('b', version))).version, 1, 'each app counts its own');
      assert.deepEqual((await (await reopen()).listReleases('a', 10)).map((r) => r.version), [3, 2, 1], 'another replica reads the same');
      assert.deepEqual((await store.listReleases('a', 2)).map((r) => r.version), [3, 2]);
      assert.deepEqual(await store.readRelease('a', 2), release('a', 2));
      assert.equal(await store.readRelease('a', 9), null);
      assert.deepEqual(await (await reopen()).findRelease('rel-b-1'), release('b', 1), 'found by its id alone');
      assert.equal(await store.findRelease('rel-nope'), null);
    });

    it('gives releases begun at once different numbers', async () => {
      const { store, reopen } = await open();
      await store.createApp(app('a'));
      const other = await reopen();
      const versions = await Promise.all([store, other, store, other].map((s) => s.createRelease('a', (version) => release('a', version))));
      assert.deepEqual(versions.map((r) => r.version).sort(), [1, 2, 3, 4]);
    });

    it('changes a release in a write of its own, and writes nothing when the change is refused', async () => {
      const { store } = await open();
      await store.createApp(app('a'));
      await store.createRelease('a', (version) => release('a', version));
      const ended = await store.changeRelease('a', 1, (now) => ({ ...now, status: 'failed', reason: 'a check failed', updatedAt: 2000 }));
      assert.deepEqual(ended, { ...release('a', 1), status: 'failed', reason: 'a check failed', updatedAt: 2000 });
      await assert.rejects(store.changeRelease('a', 1, () => { throw new Error('refused'); }), /refused/);
      assert.deepEqual(await store.readRelease('a', 1), ended);
      assert.equal(await store.changeRelease('a', 5, (now) => now), null);
    });

    it('refuses a release of an app that is missing or being deleted, and forgets them with the app', async () => {
      const { store } = await open();
      await assert.rejects(store.createRelease('nope', (version) => release('nope', version)), (error) => error instanceof AppGoneError && error.why === 'missing');
      await store.createApp(app('a'));
      await store.createRelease('a', (version) => release('a', version));
      await store.markAppDeleting('a');
      await assert.rejects(store.createRelease('a', (version) => release('a', version)), (error) => error instanceof AppGoneError && error.why === 'deleting');
      await store.deleteApp('a');
      await store.createApp(app('a'));
      assert.deepEqual(await store.listReleases('a', 10), [], 'a new app of the same name starts with none');
    });

    it('skips a release whose document is unreadable, and names it among unreadable records', async () => {
      const { store, spoilDoc } = await open();
      await store.createApp(app('a'));
      for (let i = 0; i < 2; i += 1) await store.createRelease('a', (version) => release('a', version));
      await spoilDoc('app_releases', { app_name: 'a', version: '2' }, JSON.stringify({ ...release('a', 2), status: 'great' }));
      assert.deepEqual((await store.listReleases('a', 10)).map((r) => r.version), [1]);
      assert.equal(await store.readRelease('a', 2), null);
      assert.equal(await store.changeRelease('a', 2, (now) => now), null);
      assert.deepEqual((await store.listUnreadableRecords()).map((u) => `${u.kind} ${u.id}`), ['release a/2']);
    });
  });
}

/** The Store contract for the E2B front's records (keys and templates). */
export function e2bRecordContract(open: OpenStore): void {
  describe('E2B records', () => {
    it('keeps one document per kind and id, refuses a second, lists by kind, and deletes', async () => {
      const { store, reopen } = await open();
      await store.insertE2bRecord('template', 'base', { image: 'registry.test/base:1' });
      await store.insertE2bRecord('key', 'base', { org: 'personal' });
      await assert.rejects(store.insertE2bRecord('template', 'base', { image: 'other' }), DuplicateError);
      const other = await reopen();
      assert.deepEqual(await other.getE2bRecord('template', 'base'), { image: 'registry.test/base:1' }, 'another replica reads the first, unchanged');
      await store.insertE2bRecord('template', 'alpha', { image: 'registry.test/alpha:1' });
      assert.deepEqual(await other.listE2bRecords('template'), [{ image: 'registry.test/alpha:1' }, { image: 'registry.test/base:1' }]);
      assert.equal(await store.getE2bRecord('template', 'nope'), undefined);
      assert.equal(await store.deleteE2bRecord('template', 'base'), true);
      assert.equal(await store.deleteE2bRecord('template', 'base'), false);
      assert.deepEqual(await other.getE2bRecord('key', 'base'), { org: 'personal' }, 'the other kind untouched');
    });
  });
}
