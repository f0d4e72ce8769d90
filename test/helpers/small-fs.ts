/**
 * A small ext4 filesystem of the test's own (a loop-mounted image file), to be
 * filled on purpose: where a disk-full test puts hangar's data. Needs root.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SmallFs {
  /** Where it is mounted. */
  path: string;
  /** Bytes free now. */
  free(): number;
  /** Fills it until `leaveBytes` (0: not one block) are free. */
  fill(leaveBytes?: number): Promise<void>;
  /** Removes what `fill` wrote. */
  unfill(): void;
  /** Unmounts it and removes its image. */
  remove(): void;
}

const MB = 1 << 20;

export function smallFilesystem(mountPoint: string, sizeMb: number): SmallFs {
  const imageDir = mkdtempSync(join(tmpdir(), 'hangar-smallfs-'));
  const image = join(imageDir, 'fs.img');
  execFileSync('truncate', ['-s', `${sizeMb}M`, image]);
  // No blocks reserved for root (hangar runs as root: it would write into them).
  execFileSync('mkfs.ext4', ['-q', '-F', '-m', '0', image]);
  mkdirSync(mountPoint, { recursive: true });
  execFileSync('mount', ['-o', 'loop', image, mountPoint]);
  const fillers: string[] = [];
  const free = () => {
    const stats = statfsSync(mountPoint);
    return stats.bavail * stats.bsize;
  };
  return {
    path: mountPoint,
    free,
    async fill(leaveBytes = 0) {
      const filler = join(mountPoint, `filler-${fillers.length}`);
      fillers.push(filler);
      const handle = await open(filler, 'w');
      try {
        const chunk = Buffer.alloc(MB);
        let chunkSize = MB;
        // Whole megabytes while they fit, then single blocks until the disk refuses one.
        for (;;) {
          const room = free() - leaveBytes;
          if (room <= 0) break;
          const size = Math.min(chunkSize, leaveBytes > 0 ? room : chunkSize);
          try {
            await handle.write(chunk, 0, size);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
            if (chunkSize === 4096) break;
            chunkSize = 4096;
          }
        }
        await handle.sync().catch(() => undefined);
      } finally {
        await handle.close();
      }
    },
    unfill() {
      for (const filler of fillers.splice(0)) rmSync(filler, { force: true });
    },
    remove() {
      try {
        execFileSync('umount', [mountPoint]);
      } catch {
        execFileSync('umount', ['-l', mountPoint]);
      }
      rmSync(imageDir, { recursive: true, force: true });
    },
  };
}
