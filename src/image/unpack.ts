/**
 * Applies image layers to a directory in order, honouring OCI whiteouts: a
 * `.wh.<name>` entry deletes `<name>` from lower layers, and `.wh..wh..opq` empties
 * its directory of what lower layers put there. Layers may be gzip, zstd or plain tar.
 */
import { createReadStream, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join, normalize } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { x as extract } from 'tar';

const OPAQUE = '.wh..wh..opq';
const WHITEOUT = '.wh.';

export type Compression = 'gzip' | 'zstd' | 'none';

export function compressionOf(mediaType: string): Compression {
  if (mediaType.endsWith('+zstd') || mediaType.endsWith('.zstd')) return 'zstd';
  if (mediaType.endsWith('gzip') || mediaType.endsWith('+gzip')) return 'gzip';
  if (mediaType.endsWith('.tar') || mediaType.endsWith('tar')) return 'none';
  throw new Error(`unsupported layer media type ${mediaType}`);
}

/** Applies one layer (a file at `path`) to `root`. */
export async function applyLayer(root: string, path: string, compression: Compression): Promise<void> {
  const written = new Set<string>();
  const filter = (entryPath: string): boolean => {
    const relative = normalize(entryPath).replace(/^\/+/, '').replace(/\/+$/, '');
    const name = basename(relative);
    const parent = dirname(relative);
    if (name === OPAQUE) {
      emptyLowerLayers(join(root, parent), parent, written);
      return false;
    }
    if (name.startsWith(WHITEOUT)) {
      rmSync(join(root, parent, name.slice(WHITEOUT.length)), { recursive: true, force: true });
      return false;
    }
    written.add(relative);
    return true;
  };
  const unpacker = extract({ cwd: root, filter, preservePaths: false, unlink: true });
  const source = createReadStream(path);
  if (compression === 'none') await pipeline(source, unpacker);
  else await pipeline(source, compression === 'gzip' ? createGunzip() : createZstdDecompress(), unpacker);
}

/** Removes children of `dir` that this layer did not write itself. */
function emptyLowerLayers(dir: string, relativeDir: string, written: Set<string>): void {
  let children: string[];
  try {
    children = readdirSync(dir);
  } catch {
    return;
  }
  for (const child of children) {
    const relative = relativeDir === '.' ? child : `${relativeDir}/${child}`;
    if (!written.has(relative)) rmSync(join(dir, child), { recursive: true, force: true });
  }
}
