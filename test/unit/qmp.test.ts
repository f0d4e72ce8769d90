import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { QmpClient, QmpError } from '../../src/vmm/qemu/qmp.ts';

/** A QMP peer that answers like QEMU: greeting, then one reply per command. */
function fakeQemu(path: string, seen: unknown[]): Promise<{ server: Server; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.write('{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}}, "capabilities": []}}\r\n');
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const message = JSON.parse(buffer.slice(0, nl)) as { execute: string; id: number; arguments?: unknown };
        buffer = buffer.slice(nl + 1);
        seen.push(message);
        if (message.execute === 'query-status') {
          socket.write('{"event": "RESUME", "data": {}, "timestamp": {"seconds": 1, "microseconds": 2}}\r\n');
          socket.write(`{"return": {"status": "running", "singlestep": false, "running": true}, "id": ${message.id}}\r\n`);
        } else if (message.execute === 'migrate') {
          socket.write(`{"error": {"class": "GenericError", "desc": "no migration"}, "id": ${message.id}}\r\n`);
        } else if (message.execute === 'stop') {
          // never answers
        } else {
          socket.write(`{"return": {}, "id": ${message.id}}\r\n`);
        }
      }
    });
  });
  return new Promise((resolve) => server.listen(path, () => resolve({ server, sockets })));
}

describe('QMP client', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-qmp-'));
  const path = join(dir, 'qmp.sock');
  const seen: unknown[] = [];
  let peer: { server: Server; sockets: Socket[] };
  before(async () => { peer = await fakeQemu(path, seen); });
  after(() => {
    peer.server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('negotiates capabilities, runs commands, delivers events and errors', async () => {
    const client = await QmpClient.connect(path);
    const resumed = client.waitForEvent('RESUME', 1000);
    assert.deepEqual(await client.execute('query-status', {}), { status: 'running', singlestep: false, running: true });
    assert.equal((await resumed).event, 'RESUME');
    await client.execute('balloon', { value: 268435456 });
    await assert.rejects(client.execute('migrate', { uri: 'file:/x' }), (error: unknown) => error instanceof QmpError && error.errorClass === 'GenericError');
    await assert.rejects(client.execute('stop', {}, 100), /no answer within 100 ms/);
    assert.deepEqual(seen.slice(0, 3), [
      { execute: 'qmp_capabilities', id: 1 },
      { execute: 'query-status', id: 2 },
      { execute: 'balloon', arguments: { value: 268435456 }, id: 3 },
    ]);
    client.close();
  });

  it('fails pending commands when QEMU goes away', async () => {
    const client = await QmpClient.connect(path);
    const pending = client.execute('stop', {}, 5000);
    for (const socket of peer.sockets) socket.destroy();
    await assert.rejects(pending, /connection closed/);
    await assert.rejects(client.execute('cont', {}), /connection closed/);
  });
});
