/**
 * Effects leave with the commit: a change and the work it causes are one
 * transaction (the outbox), drained by the host agent. So a commit whose answer is
 * lost (the connection broke after the database committed) still gets its work
 * done, and a process that dies right after committing loses nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { MachineWrite, Store } from '../../src/store/store.ts';
import { testHangar } from '../helpers/hangar.ts';

/** A store whose first commit moving a machine to `state` is committed, and then answers as if the connection broke. */
function losingAnswerTo(store: SqliteStore, state: string): Store {
  let lost = false;
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property !== 'commit') {
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return async (write: MachineWrite) => {
        const written = await target.commit(write);
        if (!lost && write.machine.state === state) {
          lost = true;
          throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
        }
        return written;
      };
    },
  });
}

describe('the outbox', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-outbox-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('boots a machine whose host\'s `prepared` commit landed but whose answer was lost', async () => {
    const t = await testHangar({ dir, store: losingAnswerTo(new SqliteStore(join(dir, 'hangar.db')), 'starting'), delays: { bootMs: 10 } });
    try {
      const app = await t.app();
      const m = await t.machine(app);
      const waited = await t.waitFor(app, m.id, 'started');
      assert.equal(waited.status, 200, JSON.stringify((await t.call('GET', `/v1/apps/${app}/machines/${m.id}`)).body));
      await t.idle();
      assert.equal(t.driver.vmState(m.id), 'running');
    } finally {
      await t.close();
    }
  });
});
