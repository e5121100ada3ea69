// A JSON Schema (2020-12) validator for exactly the keywords schema/pins.schema.json uses, so the schema
// can be checked against real documents without a dependency. A keyword it does not implement is an
// error, never silently passed: if the schema grows a keyword, this must grow with it.
const ANNOTATIONS = new Set(['$schema', '$id', 'title', 'description', 'default', '$defs', 'format']);
const ASSERTIONS = new Set([
  'type', 'required', 'properties', 'patternProperties', 'additionalProperties', 'propertyNames', '$ref',
  'const', 'enum', 'pattern', 'minimum', 'maximum', 'exclusiveMinimum', 'minLength', 'items', 'anyOf',
]);

const typeOf = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v);
const isType = (v, type) => (type === 'number' ? typeof v === 'number' : type === 'integer' ? Number.isInteger(v) : typeOf(v) === type);
const equal = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** The errors of `value` against `schema` (inside `root`, for $ref), each `"path: why"`; [] when valid. */
export function validateSchema(root, value, schema = root, path = '$') {
  if (schema === true) return [];
  if (schema === false) return [`${path}: not allowed`];
  for (const keyword of Object.keys(schema)) {
    if (!ANNOTATIONS.has(keyword) && !ASSERTIONS.has(keyword)) throw new Error(`json-schema.mjs does not implement "${keyword}" (at ${path})`);
  }
  const errors = [];
  if (schema.$ref !== undefined) {
    if (!schema.$ref.startsWith('#/')) throw new Error(`only local $refs are implemented: ${schema.$ref}`);
    const target = schema.$ref.slice(2).split('/').reduce((node, part) => node[part], root);
    errors.push(...validateSchema(root, value, target, path));
  }
  if (schema.type !== undefined && !isType(value, schema.type)) return [...errors, `${path}: expected ${schema.type}, got ${typeOf(value)}`];
  if (schema.const !== undefined && !equal(value, schema.const)) errors.push(`${path}: expected ${JSON.stringify(schema.const)}`);
  if (schema.enum !== undefined && !schema.enum.some((e) => equal(e, value))) errors.push(`${path}: not one of ${schema.enum.join(', ')}`);
  if (typeof value === 'string') {
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) errors.push(`${path}: does not match ${schema.pattern}`);
    if (schema.minLength !== undefined && [...value].length < schema.minLength) errors.push(`${path}: shorter than ${schema.minLength}`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${path}: below ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${path}: above ${schema.maximum}`);
    if (schema.exclusiveMinimum !== undefined && !(value > schema.exclusiveMinimum)) errors.push(`${path}: not above ${schema.exclusiveMinimum}`);
  }
  if (schema.anyOf !== undefined && !schema.anyOf.some((s) => validateSchema(root, value, s, path).length === 0)) {
    errors.push(`${path}: matches none of anyOf (${schema.anyOf.map((s) => validateSchema(root, value, s, path).join('; ')).join(' | ')})`);
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    value.forEach((item, i) => errors.push(...validateSchema(root, item, schema.items, `${path}[${i}]`)));
  }
  if (typeOf(value) === 'object') {
    for (const key of schema.required ?? []) if (!Object.hasOwn(value, key)) errors.push(`${path}: missing ${key}`);
    for (const [key, item] of Object.entries(value)) {
      const where = `${path}.${key}`;
      if (schema.propertyNames !== undefined) errors.push(...validateSchema(root, key, schema.propertyNames, `${where} (name)`));
      let matched = false;
      if (schema.properties !== undefined && Object.hasOwn(schema.properties, key)) {
        matched = true;
        errors.push(...validateSchema(root, item, schema.properties[key], where));
      }
      for (const [pattern, sub] of Object.entries(schema.patternProperties ?? {})) {
        if (new RegExp(pattern, 'u').test(key)) {
          matched = true;
          errors.push(...validateSchema(root, item, sub, where));
        }
      }
      if (!matched && schema.additionalProperties !== undefined) errors.push(...validateSchema(root, item, schema.additionalProperties, where));
    }
  }
  return errors;
}
