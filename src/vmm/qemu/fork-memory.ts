/**
 * Where a fork's frozen RAM lives: a ramfs, not tmpfs. QEMU 7.2 gives memory back
 * (balloon inflation, free page reporting) by punching a hole in the file behind
 * guest RAM, even when it maps that file private; on tmpfs one child doing so would
 * zero the pages its siblings still share. ramfs cannot punch holes: QEMU's attempt
 * fails (and says so in the child's log) and the shared pages stay whole.
 */
import { mkdir, readdir, rmdir, statfs } from 'node:fs/promises';
import { run } from '../../commands/run.ts';

const RAMFS_MAGIC = 0x858458f6;

/** Mounts a ramfs at `dir` unless one is there already. */
export async function ensureForkMemoryDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if ((await statfs(dir)).type === RAMFS_MAGIC) return;
  await run('mount', ['-t', 'ramfs', '-o', 'mode=0700', 'hangar-forks', dir]);
  if ((await statfs(dir)).type !== RAMFS_MAGIC) throw new Error(`${dir} is not a ramfs after mounting one`);
}

/** Unmounts the ramfs at `dir` if nothing is left in it (a busy or non-empty one stays). */
export async function releaseForkMemoryDir(dir: string): Promise<void> {
  try {
    if ((await statfs(dir)).type !== RAMFS_MAGIC) return;
    if ((await readdir(dir)).length > 0) return;
    await run('umount', [dir]);
    await rmdir(dir);
  } catch {
    // not there, or still in use
  }
}
