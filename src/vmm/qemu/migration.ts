/**
 * Saving a VM's state to a file and loading it back, over QEMU's migration
 * channel. hangar itself is the other end (a unix socket), so it knows for sure
 * whether every byte reached the file. With guest RAM in a shared file,
 * `x-ignore-shared` leaves the RAM out of the stream: only devices are written.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { failpoint } from '../../system/failpoints.ts';
import { connectUnix } from './line-socket.ts';
import type { QmpClient } from './qmp.ts';

const POLL_MS = 2;

/** Saving or loading a VM state with shared RAM takes milliseconds; without, RAM goes through the stream too. */
export const MIGRATION_TIMEOUT_MS = 120_000;

/** Both ends of a migration must agree: a save and the load of it set this alike. */
export async function ignoreSharedMemory(qmp: QmpClient, state = true): Promise<void> {
  await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state }] });
}

/**
 * Writes the paused VM's state to `file` through a socket at `socketPath`.
 * Resolves once QEMU reports the migration complete and the file holds all of it.
 */
export async function saveState(qmp: QmpClient, socketPath: string, file: string, timeoutMs: number): Promise<void> {
  await rm(socketPath, { force: true });
  const server = createServer();
  let peer: Socket | undefined;
  const written = new Promise<void>((resolve, reject) => {
    server.once('connection', (socket) => {
      peer = socket;
      socket.once('data', () => failpoint('suspend.mid-save'));
      pipeline(socket, createWriteStream(file)).then(resolve, reject);
    });
  });
  written.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
  await new Promise<void>((resolve, reject) => server.listen(socketPath, resolve).once('error', reject));
  try {
    await qmp.execute('migrate', { uri: `unix:${socketPath}` });
    const [migrated, stored] = await Promise.allSettled([migrationEnd(qmp, timeoutMs, 'saving the VM state'), written]);
    if (stored.status === 'rejected') throw new Error(`writing the VM state failed: ${(stored.reason as Error).message}`);
    if (migrated.status === 'rejected') throw migrated.reason;
  } finally {
    peer?.destroy();
    server.close();
    await rm(socketPath, { force: true });
  }
}

/**
 * Loads `file` into a QEMU started with `-incoming defer`; the VM stays paused.
 * QEMU's verdict is the one that counts: it reads the stream up to its end marker
 * and checks it, then may close the socket before hangar's side has finished
 * (`Premature close`, EPIPE), which is no failure. The stream's error only adds to
 * QEMU's reason when the load itself failed.
 */
export async function loadState(qmp: QmpClient, socketPath: string, file: string, timeoutMs: number): Promise<void> {
  await rm(socketPath, { force: true });
  await qmp.execute('migrate-incoming', { uri: `unix:${socketPath}` });
  const socket = await connectUnix(socketPath, 5000, 'migration');
  failpoint('resume.mid-load');
  try {
    const [sent, migrated] = await Promise.allSettled([pipeline(createReadStream(file), socket), migrationEnd(qmp, timeoutMs, 'loading the VM state')]);
    if (migrated.status === 'rejected') {
      const reason = migrated.reason as Error;
      if (sent.status === 'rejected') reason.message += ` (sending it: ${(sent.reason as Error).message})`;
      throw reason;
    }
  } finally {
    socket.destroy();
    await rm(socketPath, { force: true });
  }
}

async function migrationEnd(qmp: QmpClient, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await qmp.execute('query-migrate', {});
    if (info.status === 'completed') return;
    if (info.status === 'failed' || info.status === 'cancelled') {
      throw new Error(`${what} ${info.status}${info['error-desc'] ? `: ${info['error-desc']}` : ''}`);
    }
    if (Date.now() > deadline) throw new Error(`${what} took longer than ${timeoutMs} ms`);
    await sleep(POLL_MS);
  }
}
