/**
 * Every error leaves the API as `{"error": message, "status": code}` with the HTTP
 * status from the domain's table; anything unexpected is logged and answered 500.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { HangarError, HTTP_STATUS, WIRE_STATUS } from '../domain/errors.ts';
import { StorageError } from '../store/errors.ts';

export function errorBody(error: HangarError): Record<string, unknown> {
  const body: Record<string, unknown> = { error: error.message, status: WIRE_STATUS[error.code] };
  if (error.hint) body.hint = error.hint;
  return body;
}

export function handleError(error: FastifyError | HangarError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof StorageError) {
    // hangar's own disk failed it: the operator must hear of it, and the client why its write was lost.
    request.log.error({ err: error }, error.message);
    return reply.status(HTTP_STATUS.storage_failed).send(errorBody(new HangarError('storage_failed', error.message, 'free disk space where hangar keeps its data, then retry')));
  }
  if (error instanceof HangarError) {
    return reply.status(HTTP_STATUS[error.code]).send(errorBody(error));
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    const where = fastifyError.validationContext ?? 'request';
    const message = fastifyError.message.startsWith(where) ? fastifyError.message : `${where} ${fastifyError.message}`;
    return reply.status(400).send({ error: `invalid request: ${message}`, status: 'unknown' });
  }
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return reply.status(status).send({ error: fastifyError.message, status: 'unknown' });
  }
  request.log.error({ err: error }, 'unexpected error');
  return reply.status(500).send({ error: 'internal error; see the server log', status: 'unknown' });
}
