/**
 * The images a host holds on its disk, as that host records them (its own rows
 * only, by row-level security), so that placement can tell a create that its host
 * need not prepare the image again (see placementView and MachineInsert.ifImageHeld).
 */
import type { ImageRef } from '../../domain/image-ref.ts';
import { rows, type Sql } from './connection.ts';

/** What a held image is known by beside its digest: where it is pulled from. */
export function heldRepository(image: ImageRef): string {
  return `${image.registry}/${image.repository}`;
}

export class PostgresHeldImages {
  private readonly pool: Sql;
  /** What this process recorded: each is written once per process (registering from another data directory clears them). */
  private readonly recorded = new Set<string>();

  constructor(pool: Sql) {
    this.pool = pool;
  }

  async hold(image: ImageRef): Promise<void> {
    if (!image.digest) return;
    const repository = heldRepository(image);
    const key = `${repository}@${image.digest}`;
    if (this.recorded.has(key)) return;
    await rows(this.pool, `INSERT INTO host_images (host_id, repository, digest) VALUES (hangar_current_host(), $1, $2)
      ON CONFLICT DO NOTHING`, [repository, image.digest]);
    this.recorded.add(key);
  }
}
