/**
 * The images each host holds (PostgreSQL): a host records its own only, and a
 * create placed on a host that holds its image, named by digest, is inserted as
 * the host's prepare would have left it, with no prepare queued. A tag, another
 * repository or another host's disk gets the prepare.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { HostIdentity } from '../../src/domain/host.ts';
import { parseImageRef } from '../../src/domain/image-ref.ts';
import type { MachineRecord } from '../../src/domain/machine.ts';
import { createHostRole } from '../../src/store/postgres/host-roles.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import type { MachineInsert, Placer } from '../../src/store/store.ts';
import { postgresSkipReason, startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { app, machine, versionOf } from '../helpers/store-fixtures.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const PINNED = `registry.test/hello@${DIGEST}`;
const ALIVE = { takeOver: false, freshMs: 10_000 };
const identity = (id: string, instanceId = 'i-00000000000000a1'): HostIdentity => ({
  id, region: 'fra', address: `${id}:4290`, hostNumber: 1, cpus: 4, memoryMb: 4096, diskBytes: 0, anyRegion: false, instanceId,
});
const onHost = (hostId: string): Placer => (m) => ({ ...m, hostId });

/** A create of `image` as control/machines.ts makes it: a prepare queued, or, where the image is held, the machine `created` at once. */
function create(id: string, image: string): MachineInsert {
  const m: MachineRecord = machine({ id, appName: 'web', state: 'creating', imageRef: parseImageRef(image) }, { image });
  return {
    machine: m, version: versionOf(m), events: [], effects: [{ kind: 'prepare' }],
    ifImageHeld: (placed) => ({ machine: { ...placed, state: 'created' }, events: [], effects: [] }),
  };
}

describe('held images (PostgreSQL)', { skip: postgresSkipReason() }, () => {
  let server: TestPostgres;
  before(async () => { server = await startTestPostgres(); });
  after(() => server?.stop());
  const open = (url: string) => PostgresStore.open({ url, poolSize: 4 });

  it('skips the prepare of an image named by digest on a host that recorded it, and on no other', async () => {
    const url = await server.createDatabase();
    const owner = await open(url);
    const [h1, h2] = [await open(await createHostRole(url, 'h1')), await open(await createHostRole(url, 'h2'))];
    try {
      const { epoch } = await h1.registerHost(identity('h1'), ALIVE);
      await h2.registerHost(identity('h2'), ALIVE);
      await owner.createApp(app('web'));
      await h1.holdImage({ hostId: 'h1', epoch }, parseImageRef(`registry.test/hello:1@${DIGEST}`));
      await h1.holdImage({ hostId: 'h1', epoch }, parseImageRef('registry.test/tagged:1'));
      const queued = async (id: string) => (await server.sql(url, 'SELECT count(*)::integer AS n FROM host_work WHERE machine_id = $1', [id])).rows[0]?.n;

      const held = await owner.insertMachine(create('m1', PINNED), Infinity, onHost('h1'));
      assert.equal(held.state, 'created');
      assert.equal(await queued('m1'), 0, 'nothing for the host to do');
      for (const [id, image, hostId] of [['m2', PINNED, 'h2'], ['m3', `registry.test/other@${DIGEST}`, 'h1'], ['m4', 'registry.test/tagged:1', 'h1']] as const) {
        const prepared = await owner.insertMachine(create(id, image), Infinity, onHost(hostId));
        assert.equal(prepared.state, 'creating', `${image} on ${hostId}`);
        assert.equal(await queued(id), 1, `${image} on ${hostId}: its prepare is queued`);
      }
    } finally {
      for (const store of [owner, h1, h2]) await store.close();
    }
  });

  it('lets a host record its own images only, as the instance registered, and counts them while that instance is', async () => {
    const url = await server.createDatabase();
    const owner = await open(url);
    const hostUrl = await createHostRole(url, 'h1');
    const h1 = await open(hostUrl);
    const takeOver = { takeOver: true, freshMs: 10_000 };
    const state = async (id: string) => (await owner.insertMachine(create(id, PINNED), Infinity, onHost('h1'))).state;
    try {
      const first = await h1.registerHost(identity('h1'), ALIVE);
      await owner.createApp(app('web'));
      await assert.rejects(server.sql(hostUrl, "INSERT INTO host_images VALUES ('h2', 'i-00000000000000a1', 'registry.test/hello', $1)", [DIGEST]),
        /row-level security/, 'a host cannot say another holds an image');
      await h1.holdImage({ hostId: 'h1', epoch: first.epoch }, parseImageRef(PINNED));
      await h1.registerHost(identity('h1'), takeOver);
      assert.equal(await state('m1'), 'created', 'the same data directory holds them still');
      const other = await h1.registerHost(identity('h1', 'i-00000000000000b2'), takeOver);
      assert.equal(await state('m2'), 'creating', 'another one holds none of them');
      // The instance before, taken over, records what it prepared after: too late to count.
      await h1.holdImage({ hostId: 'h1', epoch: other.epoch - 1 }, parseImageRef(`registry.test/late@${DIGEST}`));
      assert.equal((await owner.insertMachine(create('m3', `registry.test/late@${DIGEST}`), Infinity, onHost('h1'))).state, 'creating');
      await h1.registerHost(identity('h1'), takeOver);
      assert.equal(await state('m4'), 'created', 'its own come back with it');
    } finally {
      for (const store of [owner, h1]) await store.close();
    }
  });
});
