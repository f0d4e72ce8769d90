import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadState } from '../../src/vmm/qemu/migration.ts';
import { QmpClient } from '../../src/vmm/qemu/qmp.ts';

/**
 * A QEMU as far as loading a VM state goes: `migrate-incoming` makes it listen on
 * the unix socket named, and it closes a connection at once, before hangar has
 * written everything (as QEMU does once it has read the end of the stream, racing
 * hangar's own end); `query-migrate` then answers `outcome`.
 */
function fakeIncomingQemu(qmpPath: string, outcome: { status: string; 'error-desc'?: string }): Promise<Server[]> {
  const servers: Server[] = [];
  const qmp = createServer((socket) => {
    socket.write('{"QMP": {"version": {}, "capabilities": []}}\r\n');
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const message = JSON.parse(buffer.slice(0, nl)) as { execute: string; id: number; arguments?: { uri?: string } };
        buffer = buffer.slice(nl + 1);
        if (message.execute === 'migrate-incoming') {
          const stream = createServer((peer) => peer.destroy());
          servers.push(stream);
          stream.listen(String(message.arguments?.uri).replace(/^unix:/, ''), () => socket.write(`{"return": {}, "id": ${message.id}}\r\n`));
        } else if (message.execute === 'query-migrate') {
          socket.write(`${JSON.stringify({ return: outcome, id: message.id })}\r\n`);
        } else {
          socket.write(`{"return": {}, "id": ${message.id}}\r\n`);
        }
      }
    });
  });
  servers.push(qmp);
  return new Promise((resolve) => qmp.listen(qmpPath, () => resolve(servers)));
}

describe('loading a VM state', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-migration-'));
  const state = join(dir, 'vmstate');
  writeFileSync(state, Buffer.alloc(8 << 20, 7));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const load = async (name: string, outcome: { status: string; 'error-desc'?: string }) => {
    const servers = await fakeIncomingQemu(join(dir, `${name}.qmp`), outcome);
    const qmp = await QmpClient.connect(join(dir, `${name}.qmp`));
    try {
      await loadState(qmp, join(dir, `${name}.migration`), state, 5000);
    } finally {
      qmp.close();
      for (const server of servers) server.close();
    }
  };

  it('succeeds when QEMU says the load completed, however it closed the stream', async () => {
    await load('completed', { status: 'completed' });
  });

  it('fails with QEMU\'s own reason when the load failed, naming the stream\'s error too', async () => {
    await assert.rejects(load('failed', { status: 'failed', 'error-desc': 'load of migration failed: Input/output error' }),
      /loading the VM state failed: load of migration failed: Input\/output error.*\(sending it: /);
  });
});
