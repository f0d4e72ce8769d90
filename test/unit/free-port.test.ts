/** A port chosen now for a server that listens later: free, and out of the way of outgoing connections. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ephemeralRange, freePortToListen } from '../../src/system/free-port.ts';

describe('freePortToListen', () => {
  it('gives a free port below the kernel\'s range for outgoing connections', async () => {
    const range = ephemeralRange();
    for (let i = 0; i < 20; i++) {
      const port = await freePortToListen('127.0.0.1');
      assert.ok(port >= 1024 && port < range.first, `${port} is below ${range.first}`);
      const server = createServer();
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('reads the range the kernel gives, and Linux\'s default when it cannot', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hangar-ports-'));
    try {
      writeFileSync(join(dir, 'range'), '40000\t50000\n');
      assert.deepEqual(ephemeralRange(join(dir, 'range')), { first: 40_000, last: 50_000 });
      writeFileSync(join(dir, 'range'), 'nonsense');
      assert.deepEqual(ephemeralRange(join(dir, 'range')), { first: 32_768, last: 60_999 });
      assert.deepEqual(ephemeralRange(join(dir, 'missing')), { first: 32_768, last: 60_999 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
