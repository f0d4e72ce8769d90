/**
 * The RAM files of a suspendable machine. The one QEMU maps lives in memory
 * (tmpfs): a start is refused, saying so, when that filesystem has not the room
 * for the whole guest (a page the guest touches on a full tmpfs kills QEMU with
 * SIGBUS). Its copy on disk (`memory.ram`), written once after each suspend, gets
 * its whole size reserved before QEMU starts (fallocate: blocks reserved, nothing
 * written), so a suspend's write-out never meets a full disk, and a start that
 * cannot have the space is refused too.
 */
import { mkdir, stat, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { run } from '../../commands/run.ts';

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

/** Refuses, saying so, a RAM file of `bytes` that the memory filesystem holding `path` has no room for. */
export async function checkMemoryRoom(path: string, bytes: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const held = await stat(path).then((s) => s.blocks * 512, () => 0);
  const fs = await statfs(dirname(path));
  const free = fs.bavail * fs.bsize + held;
  if (free < bytes) {
    throw new Error(`not enough memory for the machine's RAM: it needs ${Math.round(bytes / MB)} MB in ${dirname(path)}, ${Math.floor(free / MB)} MB are free`);
  }
}
