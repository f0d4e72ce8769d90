/**
 * Machines' changes in the commit order on PostgreSQL: each machine row holds the
 * id of the transaction that last wrote it (`change_xid`), and the horizon is the
 * oldest transaction still running. A row below the horizon is committed, and
 * nothing can commit below it any more; so reading the rows between the last
 * horizon and the one now reads every change exactly once (a machine changed
 * again comes again, as it is then). A host's role sees only its own machines.
 */
import type { Pool } from 'pg';
import type { MachineRecord } from '../../domain/machine.ts';
import { readMachineDoc } from '../documents.ts';
import type { ChangeLog } from '../store.ts';
import { rows } from './connection.ts';

const HORIZON = 'pg_snapshot_xmin(pg_current_snapshot())';

/** The place in the commit order before which every commit has landed now. */
export async function readHorizon(pool: Pool): Promise<string> {
  const [row] = await rows<{ horizon: string }>(pool, `SELECT ${HORIZON}::text AS horizon`);
  return row?.horizon ?? '0';
}

export class PostgresChanges implements ChangeLog {
  private readonly pool: Pool;

  constructor(pool: Pool) {
    this.pool = pool;
  }

  horizon(): Promise<string> {
    return readHorizon(this.pool);
  }

  async since(from: string): Promise<{ machines: MachineRecord[]; horizon: string }> {
    // The horizon and the rows below it come from one snapshot: no commit falls between them.
    const found = await rows<{ doc: string | null; horizon: string }>(this.pool, `WITH h AS (SELECT ${HORIZON} AS x)
      SELECT m.doc, h.x::text AS horizon FROM h LEFT JOIN machines m ON m.change_xid >= $1::xid8 AND m.change_xid < h.x
      ORDER BY m.change_xid, m.id`, [from]);
    return {
      machines: found.flatMap((row) => readMachineDoc(row.doc) ?? []),
      horizon: found[0]?.horizon ?? from,
    };
  }
}
