/** Volumes as sparse ext4 files in `<data dir>/volumes/`, made and grown with e2fsprogs. */
import { execFile } from 'node:child_process';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { VolumeHost } from '../control/ports.ts';

const run = promisify(execFile);
const GB = 1024 ** 3;

export class LocalVolumes implements VolumeHost {
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  path(id: string): string {
    return join(this.dir, `${id}.ext4`);
  }

  async create(id: string, sizeGb: number, label: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await this.setSize(id, sizeGb);
    await run('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', label.slice(0, 16), this.path(id)]);
  }

  /** Grows the file; the filesystem grows with it before the next boot that mounts it. */
  async extend(id: string, sizeGb: number): Promise<void> {
    await this.setSize(id, sizeGb);
  }

  async remove(id: string): Promise<void> {
    await rm(this.path(id), { force: true });
  }

  private async setSize(id: string, sizeGb: number): Promise<void> {
    const handle = await open(this.path(id), 'a');
    try {
      await handle.truncate(sizeGb * GB);
    } finally {
      await handle.close();
    }
  }
}

/** Brings an unmounted volume's filesystem up to its file's size (no-op when it already is). */
export async function growFilesystem(path: string): Promise<void> {
  await run('e2fsck', ['-f', '-y', '-q', path]).catch(() => undefined);
  await run('resize2fs', ['-f', path]);
}
