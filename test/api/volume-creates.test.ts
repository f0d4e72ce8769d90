/**
 * Volume creates that race, fail or are cut short: an app's volume limit holds
 * however many creates race for it (on SQLite and PostgreSQL); copies racing on
 * one disk are judged as if they came one after another; a create that fails
 * leaves nothing, and one cut short by a crash is undone at the next start.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { VolumeRecord } from '../../src/domain/volume.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { testHangar, type TestHangar } from '../helpers/hangar.ts';
import { postgresSkipReason, startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { flyGoCreate, GB, ReportedSpace } from '../helpers/volumes.ts';

/** 20 creates at once in an app that may have 5 volumes: 5 are made, 15 refused (422), and no file is left of those. */
async function racingCreates(t: TestHangar): Promise<void> {
  await t.app('racing');
  const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => t.call('POST', '/v1/apps/racing/volumes', flyGoCreate(`v${i}`, 1))));
  const made = replies.filter((reply) => reply.status === 200);
  assert.equal(made.length, 5, JSON.stringify(replies.map((reply) => reply.status)));
  for (const reply of replies.filter((r) => r.status !== 200)) {
    assert.equal(reply.status, 422);
    assert.match(reply.body.error, /app racing has 5 volumes, the most hangar allows per app \(5\)/);
  }
  const listed = (await t.call('GET', '/v1/apps/racing/volumes')).body as Array<{ id: string }>;
  assert.deepEqual(listed.map((v) => v.id).sort(), made.map((reply) => reply.body.id).sort());
}

describe('racing volume creates', () => {
  it('keep to the app\'s limit on SQLite', async () => {
    const t = await testHangar({ settings: { maxVolumesPerApp: 5 } });
    try {
      await racingCreates(t);
    } finally {
      await t.close();
    }
  });

  describe('on PostgreSQL', { skip: postgresSkipReason() }, () => {
    let server: TestPostgres;
    before(async () => { server = await startTestPostgres(); });
    after(() => server?.stop());

    it('keep to the app\'s limit', async () => {
      const store = await PostgresStore.open({ url: await server.createDatabase(), poolSize: 8 });
      const t = await testHangar({ store, settings: { maxVolumesPerApp: 5 } });
      try {
        await racingCreates(t);
      } finally {
        await t.close();
      }
    });
  });
});

/** Volume files whose copies wait until the test lets them go, and whose volumes hold what the test says. */
class HeldCopies extends ReportedSpace {
  /** Bytes each volume's file holds, as the test pretends. */
  holds = new Map<string, number>();
  private waiting: Array<() => void> = [];
  /** Copies started (and waiting). */
  started = 0;

  override async allocatedBytes(id: string): Promise<number> {
    return this.holds.get(id) ?? super.allocatedBytes(id);
  }

  protected override async copy(from: string, to: string): Promise<void> {
    this.started++;
    await new Promise<void>((resolve) => this.waiting.push(resolve));
    await super.copy(from, to);
  }

  release(): void {
    for (const resolve of this.waiting.splice(0)) resolve();
  }

  /** Resolves once `n` copies have started. */
  async untilStarted(n: number): Promise<void> {
    for (let waited = 0; this.started < n; waited += 5) {
      if (waited > 5000) throw new Error(`gave up waiting for copy ${n} to start`);
      await sleep(5);
    }
  }
}

describe('volume copies racing on one disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-volume-creates-'));
  const volumes = new HeldCopies(join(dir, 'volumes'));
  let t: TestHangar;
  before(async () => {
    t = await testHangar({ dir, volumes });
    await t.app('copies');
  });
  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const url = (path = '') => `/v1/apps/copies/volumes${path}`;

  it('are judged as if one came after the other: each counts what those under way will write', async () => {
    // 20 GB free of 100 GB, 5 GB kept free: 15 GB usable. The source holds 8 GB.
    const source = (await t.call('POST', url(), flyGoCreate('source', 10))).body;
    volumes.holds.set(source.id, 8 * GB);
    const first = t.call('POST', url(), { ...flyGoCreate('first'), source_volume_id: source.id });
    await volumes.untilStarted(1);
    // The first copy will write 8 GB it has not written yet: 7 GB is usable now.
    const second = await t.call('POST', url(), { ...flyGoCreate('second'), source_volume_id: source.id });
    assert.equal(second.status, 422, JSON.stringify(second.body));
    assert.equal(second.body.status, 'volume_placement_capacity');
    assert.match(second.body.error, /it may need 10\.0 GB, and 7\.0 GB is usable \(20\.0 GB free, less the 5\.0 GB hangar keeps free and the 8\.0 GB work under way on this disk will write\)/);
    const snapshot = await t.call('POST', url(`/${source.id}/snapshots`));
    assert.equal(snapshot.status, 422, 'a snapshot writes what the volume holds: 8 GB');
    assert.equal((await t.call('PUT', url(`/${source.id}/extend`), { size_gb: 11 })).status, 200, 'growing a file writes nothing');
    volumes.release();
    assert.equal((await first).status, 200);
    // The refused leave nothing: no record, no file.
    const listed = (await t.call('GET', url())).body as Array<{ name: string }>;
    assert.deepEqual(listed.map((v) => v.name).sort(), ['first', 'source']);
    assert.deepEqual((await t.call('GET', '/v1/orgs/personal/volumes?include_deleted=true')).body.volumes.map((v: { name: string }) => v.name).sort(), ['first', 'source']);
    // Done, the first copy's bytes are the filesystem's to report.
    const third = t.call('POST', url(), { ...flyGoCreate('third'), source_volume_id: source.id });
    await volumes.untilStarted(2);
    volumes.release();
    assert.equal((await third).status, 200);
  });
});

describe('a volume create cut short by a crash', () => {
  it('is undone when hangar starts again: its record dropped, its file removed', async () => {
    const first = await testHangar({ keepDir: true });
    try {
      await first.app('cut');
      const kept = (await first.call('POST', '/v1/apps/cut/volumes', flyGoCreate('kept', 1))).body;
      // Where a create that dies stops: the record written, the file half made.
      const cut: VolumeRecord = {
        id: 'vol_cutshort0000000', appName: 'cut', name: 'cut', region: 'local', sizeGb: 1, state: 'creating', attachedMachineId: null,
        hostId: first.hangar.control.settings.hostId, encrypted: true, autoBackupEnabled: true, snapshotRetention: 5, createdAt: Date.now(),
      };
      await first.hangar.control.store.insertVolume(cut, 100);
      await first.close();
      writeFileSync(join(first.dir, 'volumes', `${cut.id}.ext4`), 'half a filesystem');

      const t = await testHangar({ dir: first.dir });
      try {
        for (let waited = 0; await t.hangar.control.store.getVolume(cut.id); waited += 10) {
          assert.ok(waited < 5000, 'the record is dropped within 5 s');
          await sleep(10);
        }
        assert.equal(existsSync(join(first.dir, 'volumes', `${cut.id}.ext4`)), false, 'its file is removed');
        assert.equal(existsSync(join(first.dir, 'volumes', `${kept.id}.ext4`)), true, 'a volume made is left alone');
        assert.deepEqual((await t.call('GET', '/v1/apps/cut/volumes')).body.map((v: { id: string }) => v.id), [kept.id]);
      } finally {
        await t.close();
      }
    } finally {
      rmSync(first.dir, { recursive: true, force: true });
    }
  });
});
