/**
 * Host numbers in PostgreSQL: one per host, for good, the lowest free unless the
 * host asks for one. Claims take turns (an advisory lock), so two hosts starting
 * at once never take the same; the table's keys would refuse it anyway.
 */
import type { Pool } from 'pg';
import type { HostNumberClaim, HostNumbers } from '../../domain/ports.ts';
import { rows, transaction } from './connection.ts';

/** Any constant works, as long as every hangar uses the same: "hnum" in ASCII. */
const NUMBERS_LOCK = 0x686e756d;
const HIGHEST = 0xffff;

export class PostgresHostNumbers implements HostNumbers {
  private readonly pool: Pool;

  constructor(pool: Pool) {
    this.pool = pool;
  }

  async claim(hostId: string, wanted?: number): Promise<HostNumberClaim> {
    return transaction(this.pool, async (db) => {
      await rows(db, 'SELECT pg_advisory_xact_lock($1)', [NUMBERS_LOCK]);
      const [own] = await rows<{ number: number }>(db, 'SELECT number FROM host_numbers WHERE host_id = $1', [hostId]);
      if (own) return { number: own.number, heldBy: hostId };
      const [chosen] = wanted === undefined
        ? await rows<{ number: number | null; holder: null }>(db, `
            SELECT min(n) AS number, NULL AS holder FROM generate_series(1, ${HIGHEST}) AS n
            WHERE NOT EXISTS (SELECT 1 FROM host_numbers h WHERE h.number = n)`)
        : await rows<{ number: number; holder: string | null }>(db,
          'SELECT $1::integer AS number, (SELECT host_id FROM host_numbers WHERE number = $1) AS holder', [wanted]);
      if (chosen?.number === null || chosen?.number === undefined) throw new Error(`every host number (1-${HIGHEST.toString(16)}) is taken`);
      if (chosen.holder !== null) return { number: chosen.number, heldBy: chosen.holder };
      await rows(db, 'INSERT INTO host_numbers (number, host_id) VALUES ($1, $2)', [chosen.number, hostId]);
      return { number: chosen.number, heldBy: hostId };
    });
  }
}
