/**
 * Writes initramfs archives in the kernel's `newc` cpio format. Linux unpacks
 * several concatenated archives in order, later entries overriding earlier ones,
 * so a machine's own files can be appended to a shared base archive.
 */

export type CpioEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; data: Buffer | string; mode?: number }
  | { kind: 'symlink'; path: string; target: string };

const TYPE = { dir: 0o040000, file: 0o100000, symlink: 0o120000 } as const;
const DEFAULT_MODE = { dir: 0o755, file: 0o644, symlink: 0o777 } as const;

function header(fields: number[]): string {
  return `070701${fields.map((n) => n.toString(16).padStart(8, '0')).join('')}`;
}

function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

function record(ino: number, mode: number, name: string, data: Buffer): Buffer[] {
  const nameBytes = Buffer.from(`${name}\0`);
  // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
  const head = Buffer.from(header([ino, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0]));
  return [head, nameBytes, pad4(head.length + nameBytes.length), data, pad4(data.length)];
}

/** The archive for `entries`, in order (parents before children), with a trailer. */
export function cpioArchive(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  entries.forEach((entry, index) => {
    const name = entry.path.replace(/^\/+/, '');
    const mode = TYPE[entry.kind] | (entry.kind === 'symlink' ? DEFAULT_MODE.symlink : (entry.mode ?? DEFAULT_MODE[entry.kind]));
    const data = entry.kind === 'file' ? Buffer.from(entry.data) : entry.kind === 'symlink' ? Buffer.from(entry.target) : Buffer.alloc(0);
    parts.push(...record(index + 1, mode, name, data));
  });
  parts.push(...record(0, 0, 'TRAILER!!!', Buffer.alloc(0)));
  const archive = Buffer.concat(parts);
  // The kernel reads archives in 512-byte blocks; pad so that the next one starts cleanly.
  return Buffer.concat([archive, Buffer.alloc((512 - (archive.length % 512)) % 512)]);
}
