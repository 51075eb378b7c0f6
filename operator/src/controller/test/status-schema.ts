// The CRD's status schema as the API server applies it: it prunes every field the schema does not
// declare, so a status field the operator writes and reads back must be declared there.
import { loadAllYaml } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}

/** The CRD's status schema (manifests/crd/jetscale.io_eventconsumers.yaml). */
export function statusSchema(): SchemaNode {
  const file = path.resolve(process.cwd(), 'manifests/crd/jetscale.io_eventconsumers.yaml');
  const [crd] = loadAllYaml(readFileSync(file, 'utf8')) as Array<{
    spec: { versions: Array<{ schema: { openAPIV3Schema: SchemaNode } }> };
  }>;
  const status = crd?.spec.versions[0]?.schema.openAPIV3Schema.properties?.status;
  if (status === undefined) throw new Error('no status schema in the CRD');
  return status;
}

/** Paths of `value` the schema does not declare (what the API server would drop). */
export function undeclared(value: unknown, schema: SchemaNode, at: string): string[] {
  if (Array.isArray(value))
    return value.flatMap((v, i) =>
      schema.items ? undeclared(v, schema.items, `${at}[${i}]`) : [`${at}[${i}]`],
    );
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => {
    const declared = schema.properties?.[k];
    if (v === undefined) return [];
    return declared === undefined ? [`${at}.${k}`] : undeclared(v, declared, `${at}.${k}`);
  });
}
