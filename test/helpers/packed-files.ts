/**
 * A snapshot packed for a move (VmmDriver.packSnapshot), copied into a directory as
 * the move's transfer takes it: each file once it is whole. Right after a suspend
 * the RAM and the records written after it are still being written out, and say
 * when each block is there (`written`).
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PackedFile } from '../../src/domain/runtime.ts';

/** The copies, by name: `dir/<prefix><name>`. */
export async function copyPacked(packed: Map<string, PackedFile>, dir: string, prefix = ''): Promise<Map<string, string>> {
  const received = new Map<string, string>();
  for (const [name, { path, blocks, written }] of packed) {
    await written?.(Math.max((blocks?.length ?? 1) - 1, 0));
    copyFileSync(path, join(dir, `${prefix}${name}`));
    received.set(name, join(dir, `${prefix}${name}`));
  }
  return received;
}
