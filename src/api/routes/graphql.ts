/**
 * `POST /graphql`: the part of Fly's GraphQL API flyctl's commands query (schema in
 * ../graphql/schema.ts). Every answer is a 200 with `data` and `errors`, as Fly's:
 * fly-go takes any other status as an opaque failure. A query may select at most
 * MAX_FIELDS fields, so that aliases cannot multiply the work one request makes.
 */
import { buildSchema, type DocumentNode, execute, type GraphQLError, parse, validate, visit } from 'graphql';
import { Type } from 'typebox';
import type { ControlDeps } from '../../control/ports.ts';
import { type GraphqlOptions, rootValue } from '../graphql/resolvers.ts';
import { SCHEMA_SDL } from '../graphql/schema.ts';
import type { Api } from './types.ts';

const MAX_FIELDS = 300;
const schema = buildSchema(SCHEMA_SDL);

const GraphqlBody = Type.Object({
  query: Type.String({ maxLength: 64 * 1024 }),
  variables: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
  operationName: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
});

function fieldCount(document: DocumentNode): number {
  let fields = 0;
  visit(document, { Field: () => { fields += 1; } });
  return fields;
}

export function graphqlRoutes(api: Api, deps: ControlDeps, options: GraphqlOptions): void {
  const root = rootValue(deps, options);
  api.post('/graphql', { schema: { hide: true, body: GraphqlBody } }, async (request) => {
    const { query, variables, operationName } = request.body;
    let document: DocumentNode;
    try {
      document = parse(query);
    } catch (error) {
      return { data: null, errors: [(error as GraphQLError).toJSON()] };
    }
    if (fieldCount(document) > MAX_FIELDS) return { data: null, errors: [{ message: `a query may select at most ${MAX_FIELDS} fields` }] };
    const invalid = validate(schema, document);
    if (invalid.length > 0) return { data: null, errors: invalid.map((error) => error.toJSON()) };
    const result = await execute({ schema, document, rootValue: root, variableValues: variables ?? undefined, operationName: operationName ?? undefined });
    return { data: result.data ?? null, ...(result.errors?.length ? { errors: result.errors.map((error) => error.toJSON()) } : {}) };
  });
}
