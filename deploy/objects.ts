// Kubernetes objects as plain data, and their rendering as one multi-document
// YAML stream for `kubectl apply -f -`.
import { stringify } from 'yaml';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

/**
 * Multi-document YAML, one document per object, each led by a comment naming
 * it. Long strings (PEM, base64) stay on one line: no folding surprises.
 */
export function toYaml(objects: readonly KubeObject[], header?: string): string {
  const docs = objects.map((o) => {
    const id = `${o.kind} ${o.metadata.namespace === undefined ? '' : `${o.metadata.namespace}/`}${o.metadata.name}`;
    return `---\n# ${id}\n${stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })}`;
  });
  return `${header === undefined ? '' : header.replace(/^/gm, '# ')}\n${docs.join('')}`;
}
