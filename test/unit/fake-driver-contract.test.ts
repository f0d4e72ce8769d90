/** The fake driver passes the VMM driver contract the QEMU driver passes (test/e2e/driver-contract.test.ts). */
import { describe } from 'node:test';
import { normalizeConfig } from '../../src/domain/config.ts';
import { parseImageRef } from '../../src/domain/image-ref.ts';
import { FakeDriver, FakeHost } from '../../src/vmm/fake/fake-driver.ts';
import { driverContract } from '../helpers/driver-contract.ts';

describe('fake driver: the VMM driver contract', () => {
  const host = new FakeHost();
  const missingImage = 'registry.test/no-such-image:1';
  host.missingImages.add(missingImage);
  driverContract({
    open: () => new FakeDriver({}, host),
    openOtherHost: () => new FakeDriver({}, new FakeHost()),
    spec: (machineId) => ({
      machineId, appName: 'contract', name: `m-${machineId}`, region: 'local', version: '01JCONTRACT000000000000000',
      config: normalizeConfig({ image: 'registry.test/web:1' }), imageRef: parseImageRef('registry.test/web:1'), privateIp: 'fdaa:0:1:a7b:0:1:0:2',
    }),
    missingImage,
    leftovers: (machineId) => [
      ...(host.vms.has(machineId) ? ['a VM'] : []),
      ...(host.prepared.has(machineId) ? ['prepared state'] : []),
    ],
  }, 'fc');
});
