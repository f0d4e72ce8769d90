/**
 * The HTTP API as a factory: `buildApp(deps)` returns the Fastify app without
 * listening, so tests drive it in process with `inject()`.
 */
import swagger from '@fastify/swagger';
import { Ajv } from 'ajv';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import type { Registry } from 'prom-client';
import type { ControlDeps } from '../control/ports.ts';
import { accessHook } from './access.ts';
import { handleError } from './errors.ts';
import { acceptJsonBodies } from './json-body.ts';
import { appRoutes } from './routes/apps.ts';
import { imageRoutes } from './routes/images.ts';
import { leaseRoutes } from './routes/leases.ts';
import { hangarMachineRoutes } from './routes/hangar-machine-ops.ts';
import { logRoutes } from './routes/logs.ts';
import { portRoutes } from './routes/ports.ts';
import { hostRoutes } from './routes/hosts.ts';
import { machineActionRoutes } from './routes/machine-actions.ts';
import { machineRoutes } from './routes/machines.ts';
import { metadataRoutes } from './routes/metadata.ts';
import { releaseRoutes } from './routes/releases.ts';
import { secretRoutes } from './routes/secrets.ts';
import { consoleRoutes } from './routes/console.ts';
import { machineWatchRoutes } from './routes/machine-watch.ts';
import { graphqlRoutes } from './routes/graphql.ts';
import { uiexRoutes } from './routes/uiex.ts';
import type { GraphqlOptions } from './graphql/resolvers.ts';
import { orgRoutes } from './routes/orgs.ts';
import { platformRoutes } from './routes/platform.ts';
import { volumeRoutes } from './routes/volumes.ts';
import type { Api } from './routes/types.ts';
import { e2bAdminRoutes } from './routes/e2b-admin.ts';
import { type E2bOptions, e2bRoutes } from './routes/e2b.ts';

export interface AppOptions {
  control: ControlDeps;
  /** The API token every request must carry, but those to the routes in `PUBLIC_ROUTES`. */
  token: string;
  logger: FastifyBaseLogger;
  version: string;
  /** Served at `/metrics` (Prometheus text), with the token like every other route: it names every app and machine. */
  metrics?: Registry;
  /** Where the web console's built files are (console/dist). */
  consoleDir?: string;
  /** What flyctl's GraphQL queries are answered with that hangar does not keep (the apps' domain, the operator's email). */
  graphql?: GraphqlOptions;
  /** The E2B front (src/e2b/): the domain its sandboxes are reached under. */
  e2b?: E2bOptions;
}

export async function buildApp(options: AppOptions): Promise<Api> {
  const app = Fastify({
    loggerInstance: options.logger,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Query strings and path params arrive as text and are coerced to their types;
  // JSON bodies are not: `{"value": 5}` where a string is due is refused, not rewritten.
  const coercing = new Ajv({ coerceTypes: 'array', useDefaults: true, strict: false });
  const exact = new Ajv({ coerceTypes: false, useDefaults: true, strict: false });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? exact : coercing).compile(schema));
  // Response schemas document the API and type the presenters; answers are written as
  // they are built, never reshaped by a serializer compiled from the schema.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  acceptJsonBodies(app);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({ error: `not found: ${request.method} ${request.url.split('?')[0]}`, status: 'unknown' });
  });

  app.addHook('onRequest', accessHook(options.token));

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'hangar Machines API',
        description: 'Fly-compatible Machines API served by hangar. Authenticate with `Authorization: Bearer <token>`.',
        version: options.version,
      },
      components: { securitySchemes: { BearerAuth: { type: 'http', scheme: 'bearer' } } },
      security: [{ BearerAuth: [] }],
    },
  });

  appRoutes(app, options.control);
  machineRoutes(app, options.control);
  machineActionRoutes(app, options.control);
  leaseRoutes(app, options.control);
  metadataRoutes(app, options.control);
  secretRoutes(app, options.control);
  releaseRoutes(app, options.control);
  machineWatchRoutes(app, options.control);
  graphqlRoutes(app, options.control, options.graphql ?? { domain: 'localhost', email: 'operator@localhost' });
  uiexRoutes(app, options.control);
  if (options.consoleDir) consoleRoutes(app, options.consoleDir);
  orgRoutes(app, options.control);
  logRoutes(app, options.control);
  hangarMachineRoutes(app, options.control);
  portRoutes(app, options.control);
  hostRoutes(app, options.control);
  imageRoutes(app, options.control);
  volumeRoutes(app, options.control);
  platformRoutes(app, options.control);
  e2bRoutes(app, options.control, options.e2b ?? { domain: 'localhost' });
  e2bAdminRoutes(app, options.control);

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  const metrics = options.metrics;
  if (metrics) {
    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => reply.type(metrics.contentType).send(await metrics.metrics()));
  }
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }));
  return app;
}
