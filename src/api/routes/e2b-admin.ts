/**
 * The operator's side of the E2B front, with hangar's API token:
 * `/hangar/v1/e2b/keys` (minted keys are shown once; only their hashes are kept)
 * and `/hangar/v1/e2b/templates` (any OCI image).
 */
import { Type } from 'typebox';
import type { ControlDeps } from '../../control/ports.ts';
import type { Api } from './types.ts';
import { createKey, createTemplate, listKeys, listTemplates, revokeKey, TEMPLATE_ID } from '../../e2b/records.ts';
import { removeTemplate } from '../../e2b/sandboxes.ts';

const tags = ['E2B'];
const KeyBody = Type.Object({ name: Type.Optional(Type.String({ maxLength: 100 })), org: Type.Optional(Type.String({ maxLength: 63 })) });
const TemplateBody = Type.Object({
  templateID: Type.String({ pattern: TEMPLATE_ID }),
  image: Type.String({ minLength: 1, maxLength: 1024 }),
  cpuCount: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
  memoryMB: Type.Optional(Type.Integer({ minimum: 128, maximum: 262144 })),
  user: Type.Optional(Type.String({ maxLength: 32 })),
  workdir: Type.Optional(Type.String({ maxLength: 1024 })),
  startCmd: Type.Optional(Type.String({ maxLength: 4096 })),
  snapshot: Type.Optional(Type.Boolean()),
});

export function e2bAdminRoutes(api: Api, deps: ControlDeps): void {
  api.post('/hangar/v1/e2b/keys', { schema: { tags, body: KeyBody } }, async (request, reply) => {
    const { key, record } = await createKey(deps.store, request.body.name ?? '', request.body.org ?? 'personal', deps.clock.now());
    return reply.status(201).send({ id: record.id, key, name: record.name, org: record.org, created_at: new Date(record.createdAt).toISOString() });
  });
  api.get('/hangar/v1/e2b/keys', { schema: { tags } }, async () => (await listKeys(deps.store)).map((record) => ({
    id: record.id, name: record.name, org: record.org, created_at: new Date(record.createdAt).toISOString(),
  })));
  api.delete('/hangar/v1/e2b/keys/:id', { schema: { tags, params: Type.Object({ id: Type.String({ maxLength: 64 }) }) } }, async (request) => {
    await revokeKey(deps.store, request.params.id);
    return { ok: true };
  });

  api.post('/hangar/v1/e2b/templates', { schema: { tags, body: TemplateBody } }, async (request, reply) => {
    return reply.status(201).send(await createTemplate(deps.store, request.body, deps.clock.now()));
  });
  api.get('/hangar/v1/e2b/templates', { schema: { tags } }, async () => listTemplates(deps.store));
  api.delete('/hangar/v1/e2b/templates/:id', { schema: { tags, params: Type.Object({ id: Type.String({ maxLength: 64 }) }) } }, async (request) => {
    await removeTemplate(deps, request.params.id);
    return { ok: true };
  });
}
