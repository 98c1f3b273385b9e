// Manifests the real-node tests share: the demo web server (cli/demo-app.ts,
// from the imported weft image) as a Service and a Deployment with httpGet
// probes on its app port, and an idle pod to exec into.
import { NODE_IMAGES } from './real-node.ts';

export interface DemoWebOptions {
  namespace: string;
  replicas?: number;
  /** The demo server's LATENCY_MS. */
  latencyMs?: number;
  terminationGracePeriodSeconds?: number;
}

/** Service `web` (port 80 -> http) and Deployment `web` (label app=web) of the demo server, Ready on an httpGet probe of its app port. */
export function demoWebYaml(o: DemoWebOptions): string {
  return `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: ${o.namespace} }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: http }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: ${o.namespace} }
spec:
  replicas: ${o.replicas ?? 1}
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      terminationGracePeriodSeconds: ${o.terminationGracePeriodSeconds ?? 10}
      containers:
        - name: web
          image: ${NODE_IMAGES.weft}
          imagePullPolicy: Never
          command: [node, /weft/cli/demo-app.js, server]
          env:
            - { name: HOST, value: 0.0.0.0 }
            - { name: LATENCY_MS, value: "${o.latencyMs ?? 2}" }
            - { name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
          ports: [{ name: http, containerPort: 8080 }]
          readinessProbe: { httpGet: { path: /, port: http }, periodSeconds: 1 }
          livenessProbe: { httpGet: { path: /, port: http }, periodSeconds: 5 }
`;
}

/** Deployment `name` (label app=<name>) of one idle container from the weft image (Node, busybox) to run scripts in. */
export function idleYaml(namespace: string, name: string): string {
  return `
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  replicas: 1
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: ${name}
          image: ${NODE_IMAGES.weft}
          imagePullPolicy: Never
          command: [sleep, "100000"]
`;
}
