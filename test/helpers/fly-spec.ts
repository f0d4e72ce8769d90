/**
 * Validates real responses against Fly's official OpenAPI document
 * (../shared/spec/machines-openapi.json). COMPAT.md's exceptions are applied here,
 * each named, and nowhere else.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';

const SPEC_PATH = process.env.HANGAR_FLY_SPEC ?? fileURLToPath(new URL('../../../shared/spec/machines-openapi.json', import.meta.url));

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function loadSpec(): Json {
  const spec = JSON.parse(readFileSync(SPEC_PATH, 'utf8')) as Json;
  const schemas = spec.components.schemas as Json;
  // COMPAT: `autostop` is answered as a boolean for off/stop, a string for suspend.
  schemas['fly.MachineService'].properties.autostop = { oneOf: [{ type: 'boolean' }, { type: 'string', enum: ['suspend'] }] };
  return spec;
}

const spec = loadSpec();
const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addSchema(spec, 'fly');
const cache = new Map<string, ValidateFunction>();

/** The paths of the spec, as templates ("/v1/apps/{app_name}/machines"). */
export const SPEC_PATHS: string[] = Object.keys(spec.paths);

function matchTemplate(path: string): string | undefined {
  const parts = path.split('?')[0]!.split('/');
  return SPEC_PATHS.find((template) => {
    const t = template.split('/');
    return t.length === parts.length && t.every((seg, i) => seg.startsWith('{') || seg === parts[i]);
  });
}

export interface SpecCheck {
  template: string;
  errors: string[];
}

/**
 * Checks a response: the operation and status must be in the spec and the body must
 * satisfy the schema the spec gives for it (bodies of statuses without a schema are
 * not checked further).
 */
export function checkResponse(method: string, path: string, status: number, body: unknown): SpecCheck {
  const template = matchTemplate(path);
  if (!template) return { template: '(none)', errors: [`${method} ${path}: no such path in the spec`] };
  const operation = spec.paths[template][method.toLowerCase()];
  if (!operation) return { template, errors: [`${method} ${template}: no such operation in the spec`] };
  const response = operation.responses[String(status)];
  if (!response) {
    // Errors the spec does not list still must have the ErrorResponse shape.
    if (status >= 400) return { template, errors: validate('#/components/schemas/ErrorResponse', body, `${method} ${template} ${status}`, true) };
    return { template, errors: [`${method} ${template}: status ${status} is not in the spec`] };
  }
  const schema = response.content?.['application/json']?.schema;
  if (!schema) return { template, errors: [] };
  const ref = schema.$ref ?? (schema.type === 'array' ? `array:${schema.items.$ref}` : null);
  if (!ref) return { template, errors: [] };
  return { template, errors: validate(ref, body, `${method} ${template} ${status}`, status >= 400) };
}

function validate(ref: string, body: unknown, label: string, isError: boolean): string[] {
  let fn = cache.get(ref);
  if (!fn) {
    fn = ref.startsWith('array:')
      ? ajv.compile({ type: 'array', items: { $ref: `fly${ref.slice('array:'.length)}` } })
      : ajv.compile({ $ref: `fly${ref}` });
    cache.set(ref, fn);
  }
  const errors: string[] = [];
  if (!fn(body)) errors.push(...(fn.errors ?? []).map((e) => `${label}: ${e.instancePath} ${e.message}`));
  if (isError && !(typeof body === 'object' && body !== null && typeof (body as Json).error === 'string')) {
    errors.push(`${label}: error body lacks "error"`);
  }
  return errors;
}
