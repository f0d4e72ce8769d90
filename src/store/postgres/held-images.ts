/**
 * The images a host holds on its disk, as that host records them (its own rows
 * only, by row-level security) with the instance it runs as, so that placement
 * can tell a create that its host need not prepare the image again (see
 * placementView and MachineInsert.ifImageHeld). A row counts only while its
 * instance is the host's registered one.
 */
import type { ImageRef } from '../../domain/image-ref.ts';
import type { HostFence } from '../store.ts';
import { rows, type Sql } from './connection.ts';

/** What a held image is known by beside its digest: where it is pulled from. */
export function heldRepository(image: ImageRef): string {
  return `${image.registry}/${image.repository}`;
}

export class PostgresHeldImages {
  private readonly pool: Sql;
  /** What this process recorded, by the epoch it recorded it at: each is written once per registration. */
  private readonly recorded = new Set<string>();

  constructor(pool: Sql) {
    this.pool = pool;
  }

  /**
   * Records that host `fence.hostId`, as the instance that registered it at
   * `fence.epoch`, holds `image`; nothing once another registration has followed.
   */
  async hold(fence: HostFence, image: ImageRef): Promise<void> {
    if (!image.digest) return;
    const repository = heldRepository(image);
    const key = `${fence.epoch} ${repository}@${image.digest}`;
    if (this.recorded.has(key)) return;
    await rows(this.pool, `INSERT INTO host_images (host_id, instance_id, repository, digest)
      SELECT h.id, h.instance_id, $3, $4 FROM hosts h WHERE h.id = $1 AND h.epoch = $2
      ON CONFLICT DO NOTHING`, [fence.hostId, fence.epoch, repository, image.digest]);
    this.recorded.add(key);
  }
}
