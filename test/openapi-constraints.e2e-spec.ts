import type { ValidationMetadata } from 'class-validator/types/metadata/ValidationMetadata';
import { generateOpenApiDocument } from '../src/http/openapi-document';
import { constraintName, constraintsOf, SCHEMALESS_CONSTRAINTS, schemaOfConstraint, validationTargets, type ValidatedClass } from '../src/http/openapi-validator-schemas';

// The OpenAPI document says what the server enforces: for every field of every DTO, each
// class-validator constraint (the server's check) is compared with the field's schema in the
// generated document (what clients are told). A bound the validators check and the document does
// not state, or states otherwise, fails here.

// Validated classes that are not HTTP input: the environment is validated at start-up.
const NOT_HTTP = new Set(['EnvironmentSchema']);
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

type Json = Record<string, any>;

describe('the OpenAPI document and the validators', () => {
  let doc: Json;
  let schemas: Json;

  beforeAll(async () => {
    doc = (await generateOpenApiDocument()) as Json;
    schemas = doc.components.schemas;
  });

  const deref = (schema: Json | undefined): Json | undefined => (schema?.$ref ? schemas[String(schema.$ref).split('/').pop()!] : schema);

  /** The query parameters of the operations that take this class's fields as their query. */
  function queryParameters(properties: string[]): Json[][] {
    const found: Json[][] = [];
    for (const item of Object.values<Json>(doc.paths)) {
      for (const method of METHODS) {
        const query: Json[] = (item[method]?.parameters ?? []).filter((p: Json) => p.in === 'query');
        if (query.length > 0 && properties.every((name) => query.some((p) => p.name === name))) found.push(query);
      }
    }
    return found;
  }

  /** Where each field of a class is documented: its component's properties, or query parameters. */
  function documentedFields(target: ValidatedClass, properties: string[]): Record<string, Json | undefined>[] {
    const component = schemas[target.name];
    if (component) return [component.properties ?? {}];
    return queryParameters(properties).map((params) => Object.fromEntries(params.map((p) => [p.name, p.schema])));
  }

  /** Differences between what a constraint enforces and what the field's schema says. */
  function disagreements(meta: ValidationMetadata, field: Json | undefined): string[] {
    const where = `${meta.target instanceof Function ? meta.target.name : String(meta.target)}.${meta.propertyName} @${constraintName(meta)}`;
    const enforced = schemaOfConstraint(meta);
    if (!enforced) return [`${where}: no OpenAPI translation for this constraint (add it to schemaOfConstraint)`];
    if (SCHEMALESS_CONSTRAINTS.has(constraintName(meta) ?? '')) return field ? [`${where}: a field that must be absent is documented`] : [];
    if (!field) return [`${where}: the field is not in the document`];
    const schema = deref(meta.each ? field.items : field);
    if (!schema) return [`${where}: the document has no items schema`];
    const out: string[] = [];
    for (const [keyword, value] of Object.entries(enforced)) {
      const stated = schema[keyword];
      const same =
        keyword === 'enum'
          ? Array.isArray(stated) && [...stated].sort().join('\n') === [...value].sort().join('\n')
          : value !== null && typeof value === 'object'
            ? stated !== undefined && matches(stated, value)
            : stated === value;
      if (!same) out.push(`${where}: the validator enforces ${keyword}=${JSON.stringify(value)}, the document says ${JSON.stringify(stated)}`);
    }
    return out;
  }

  function matches(stated: unknown, expected: unknown): boolean {
    try {
      expect(stated).toMatchObject(expected as object);
      return true;
    } catch {
      return false;
    }
  }

  it('states every bound, type, format, pattern and enum the validators enforce, for every DTO field', () => {
    const targets = validationTargets().filter((t) => !NOT_HTTP.has(t.name));
    expect(targets.map((t) => t.name)).toEqual(expect.arrayContaining(['CreateIntegrationConfigDto', 'RecordSyncRunDto', 'PageQueryDto', 'BulkCreateFieldMappingsDto']));
    const problems: string[] = [];
    let compared = 0;
    for (const target of targets) {
      const metas = constraintsOf(target);
      const properties = [...new Set(metas.filter((m) => !SCHEMALESS_CONSTRAINTS.has(constraintName(m) ?? '')).map((m) => m.propertyName))];
      const places = documentedFields(target, properties);
      if (places.length === 0) {
        // A base class of DTOs: its fields are checked through each subclass.
        const subclasses = targets.filter((other) => other !== target && other.prototype instanceof target && schemas[other.name]);
        if (subclasses.length === 0) problems.push(`${target.name}: validated but neither a schema nor a query of the document`);
        continue;
      }
      for (const fields of places) {
        for (const meta of metas) {
          problems.push(...disagreements(meta, fields[meta.propertyName]));
          compared++;
        }
      }
    }
    expect(problems).toEqual([]);
    expect(compared).toBeGreaterThan(60);
  });

  it('types every whole number as an integer, requests and responses alike (no `type: number` anywhere)', () => {
    const numbers: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (Array.isArray(node)) return node.forEach((item, i) => walk(item, `${path}/${i}`));
      if (node === null || typeof node !== 'object') return;
      if ((node as Json).type === 'number') numbers.push(path);
      for (const [key, value] of Object.entries(node)) if (key !== 'example' && key !== 'examples') walk(value, `${path}/${key}`);
    };
    walk(doc, '#');
    expect(numbers).toEqual([]);
    for (const name of ['records_pushed', 'records_pulled']) {
      expect(schemas.SyncRunResponse.properties[name]).toMatchObject({ type: 'integer', minimum: 0 });
      expect(schemas.RecordSyncRunDto.properties[name]).toMatchObject({ type: 'integer', minimum: 0, maximum: 2_147_483_647 });
    }
  });
});
