/** Moves a file to another path of this host: a rename, or a copy and a removal across filesystems. */
import { copyFile, rename, rm } from 'node:fs/promises';

export async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await copyFile(from, to);
    await rm(from, { force: true });
  }
}
