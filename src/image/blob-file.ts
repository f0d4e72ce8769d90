/** Content-addressed files: written in full and checked against their digest, or not at all. */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export class DigestMismatch extends Error {}

/** Writes `source` to `path` if its sha256 is `digest`; nothing is left at `path` otherwise. `onBytes` sees each chunk's size. */
export async function saveVerified(source: Readable, digest: string, path: string, onBytes?: (count: number) => void): Promise<void> {
  const hash = createHash('sha256');
  // A file of its own: two pulls of one blob at once (a tag and its digest are two references) must not share one.
  const partial = `${path}.${randomBytes(4).toString('hex')}.partial`;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      onBytes?.(chunk.length);
      done(null, chunk);
    },
  });
  try {
    await pipeline(source, tap, createWriteStream(partial));
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== digest) throw new DigestMismatch(`blob digest mismatch: expected ${digest}, got ${actual}`);
    await rename(partial, path);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

export function sha256Of(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}
