// The webhook's Prometheus metrics: its own Registry, prefix weft_injector_.
// One label, `outcome`, from a fixed set (admission-errors.ts, Outcome): never
// pod names, namespaces or messages.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Outcome } from './admission-errors.ts';

export interface WebhookMetrics {
  registry: Registry;
  observe(outcome: Outcome, seconds: number): void;
}

export function createWebhookMetrics(): WebhookMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'weft_injector_' });
  const duration = new Histogram({
    name: 'weft_injector_admission_duration_seconds',
    help: 'Time to answer one admission request, from the end of its body to the response, by outcome.',
    labelNames: ['outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  const total = new Counter({
    name: 'weft_injector_admission_requests_total',
    help: 'Admission requests answered, by outcome (injected, not-enabled, opted-out, denied, bad-request, ...).',
    labelNames: ['outcome'],
    registers: [registry],
  });
  return {
    registry,
    observe(outcome, seconds) {
      duration.observe({ outcome }, seconds);
      total.inc({ outcome });
    },
  };
}
