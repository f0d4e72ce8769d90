/**
 * The guest RAM file of a suspendable machine (`memory.ram`), mapped shared by
 * QEMU. Sparse, it would take disk blocks only as the guest first touches each
 * page, and a page touched on a full disk kills QEMU with SIGBUS. So it gets its
 * whole size on disk before QEMU starts (fallocate: blocks reserved, nothing
 * written), and a start that cannot have the space is refused, saying so.
 */
import { execFile } from 'node:child_process';
import { stat, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const MB = 1 << 20;

export async function reserveMemory(path: string, bytes: number): Promise<void> {
  // A file that already holds every block (a suspended machine's, reserved at its boot) needs nothing.
  const held = await stat(path).then((s) => s.size >= bytes && s.blocks * 512 >= bytes, () => false);
  if (held) return;
  try {
    await run('fallocate', ['-l', String(bytes), path], { timeout: 60_000 });
  } catch (error) {
    const said = (error as { stderr?: string }).stderr?.trim() || (error as Error).message;
    // A filesystem that cannot reserve space (some network filesystems) gets the sparse file as before.
    if (/not supported/i.test(said)) return;
    const free = await statfs(dirname(path)).then((s) => Math.floor((s.bavail * s.bsize) / MB), () => undefined);
    throw new Error(`not enough disk space for the machine's memory: it needs ${Math.round(bytes / MB)} MB in ${dirname(path)}`
      + `${free === undefined ? '' : `, ${free} MB are free`} (${said})`);
  }
}
