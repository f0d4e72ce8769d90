/** A `fly.toml` read from disk, with the files its `[[files]]` name by local_path (relative to it, as flyctl reads them). */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseFlyToml, type ParsedFlyToml } from '../../../domain/app-config/fly-toml.ts';
import { checkFlyToml, type LocalFiles } from '../../../domain/app-config/machine-configs.ts';

export interface FlyTomlFile extends ParsedFlyToml {
  path: string;
  localFiles: LocalFiles;
}

export function readFlyToml(path: string): FlyTomlFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (give one with --config)' : (error as Error).message}`);
  }
  const parsed = parseFlyToml(text, path);
  checkFlyToml(parsed.config);
  // Relative to the fly.toml, as flyctl reads them.
  const localFiles = new Map((parsed.config.files ?? []).flatMap((file) => (file.local_path === undefined ? [] : [[file.local_path, readLocal(resolve(dirname(path), file.local_path), file.guest_path)]])));
  return { ...parsed, path, localFiles };
}

function readLocal(path: string, guestPath: string): string {
  try {
    return readFileSync(path).toString('base64');
  } catch (error) {
    throw new Error(`[[files]] for ${guestPath}: cannot read local_path ${path}: ${(error as Error).message}`);
  }
}
