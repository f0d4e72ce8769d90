import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger, FastifyInstance, FastifyRequest, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault,
} from 'fastify';

/** The Fastify instance routes are registered on, typed by TypeBox schemas. */
export type Api = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

export const LEASE_NONCE_HEADER = 'fly-machine-lease-nonce';

/** The caller's lease nonce, if it sent one. */
export function leaseNonce(request: FastifyRequest): string | undefined {
  const value = request.headers[LEASE_NONCE_HEADER];
  const nonce = Array.isArray(value) ? value[0] : value;
  return nonce === '' ? undefined : nonce;
}

export const OK = { ok: true } as const;
