// Proves that mesh.ts (the TypeScript shapes) and mesh.proto (the wire schema)
// agree. Each fixture below is typed by mesh.ts and sets every field the
// schema has, so:
// - a field in mesh.ts but not in mesh.proto is dropped by fromObject, and
//   the round trip no longer equals the input;
// - a field in mesh.proto but not in mesh.ts cannot be set in a typed fixture
//   (excess property), and the coverage check names it;
// - a type that differs (string vs number, int64, enum names) changes the
//   value on the way through.
import { fileURLToPath } from 'node:url';
import { loadSync } from '@grpc/proto-loader';
import type { AnyDefinition, MessageTypeDefinition } from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import type {
  Ack,
  CertifyRequest,
  CertifyResponse,
  ConfigUpdate,
  InboundMode,
  ProxyConfig,
  ProxyMessage,
  Subscribe,
} from './mesh.ts';

const PROTO = fileURLToPath(new URL('./mesh.proto', import.meta.url));
const PKG = 'weft.mesh.v1';

// protobufjs's default parse options match proto-loader's keepCase: false:
// field names become lowerCamelCase, as in the proto3 JSON mapping.
const root = protobuf.loadSync(PROTO);

const TO_OBJECT: protobuf.IConversionOptions = {
  enums: String,
  longs: Number,
  defaults: true,
  arrays: true,
};

/** fromObject -> encode -> decode -> toObject through message type `name`. */
function roundTrip(name: string, value: object): unknown {
  const type = root.lookupType(`${PKG}.${name}`);
  const message = type.fromObject(value as Record<string, unknown>);
  const bytes = type.encode(message).finish();
  return type.toObject(type.decode(bytes), TO_OBJECT);
}

/**
 * Records `Message.field` for every field set in `value` (recursively), so a
 * test can assert that fixtures leave no field of the schema untried.
 */
function collectSetFields(type: protobuf.Type, value: unknown, into: Set<string>): void {
  if (typeof value !== 'object' || value === null) return;
  const record = value as Record<string, unknown>;
  for (const field of type.fieldsArray) {
    const v = record[field.name];
    if (v === undefined || v === null) continue;
    into.add(`${type.name}.${field.name}`);
    field.resolve();
    if (field.resolvedType instanceof protobuf.Type) {
      const elementType = field.resolvedType;
      for (const element of field.repeated && Array.isArray(v) ? v : [v]) collectSetFields(elementType, element, into);
    }
  }
}

/** Every `Message.field` reachable from message type `name`. */
function allFields(name: string, into = new Set<string>(), seen = new Set<string>()): Set<string> {
  if (seen.has(name)) return into;
  seen.add(name);
  const type = root.lookupType(`${PKG}.${name}`);
  for (const field of type.fieldsArray) {
    into.add(`${type.name}.${field.name}`);
    field.resolve();
    if (field.resolvedType instanceof protobuf.Type) allFields(field.resolvedType.name, into, seen);
  }
  return into;
}

function coverage(name: string, fixtures: readonly object[]): { missing: string[] } {
  const set = new Set<string>();
  const type = root.lookupType(`${PKG}.${name}`);
  for (const fixture of fixtures) collectSetFields(type, fixture, set);
  return { missing: [...allFields(name)].filter((f) => !set.has(f)).sort() };
}

// ---------------------------------------------------------------------------
// Fixtures: every field set, none at its proto3 default (a default would not
// be on the wire and so would prove nothing about its tag or type).
// ---------------------------------------------------------------------------

const retry = { maxRetries: 3, budgetRatio: 0.25, minRetriesPerSecond: 7, retryableGrpcStatuses: [4, 14] };

const fullConfig: ProxyConfig = {
  version: 'v42-7f3a',
  services: [
    {
      name: 'web',
      namespace: 'demo',
      clusterIp: '10.96.0.20',
      ports: [
        { name: 'http', port: 80, targetPort: 8080, opaque: false },
        { name: 'admin', port: 9000, targetPort: 9001, opaque: true },
      ],
      routes: [
        {
          name: 'api-canary',
          matches: [
            {
              path: { exact: '/healthz' },
              methods: ['GET', 'HEAD'],
              headers: [
                { name: 'x-canary', exact: 'yes' },
                { name: 'user-agent', regex: '.*Firefox.*' },
              ],
            },
            { path: { prefix: '/api' }, methods: ['POST'], headers: [{ name: 'x-tenant', regex: 't-[0-9]+' }] },
            { path: { regex: '/users/[0-9]+' }, methods: ['PUT'], headers: [{ name: 'x-env', exact: 'prod' }] },
          ],
          backends: [
            { service: 'web-v1', weight: 900, port: 8080 },
            { service: 'web-v2.demo', weight: 100, port: 8081 },
          ],
          timeoutMs: 2500,
          retry,
        },
      ],
      endpoints: [
        {
          address: '198.18.0.11',
          port: 8080,
          identity: 'spiffe://cluster.local/ns/demo/sa/web',
          proxyPort: 4143,
          pod: 'web-v1-6d4cf56db6-abcde',
          deployment: 'web-v1',
          serviceAccount: 'web',
          namespace: 'demo',
        },
        {
          address: '127.0.1.2',
          port: 8081,
          identity: 'spiffe://example.org/ns/demo/sa/web-v2',
          proxyPort: 14143,
          pod: 'web-v2-0',
          deployment: 'web-v2',
          serviceAccount: 'web-v2',
          namespace: 'demo',
        },
      ],
      aliases: ['web.example.internal', 'www'],
    },
  ],
  inbound: {
    mode: 'STRICT',
    allowedIdentities: ['spiffe://cluster.local/ns/demo/sa/client', 'spiffe://cluster.local/ns/ops/*'],
    appPorts: [8080, 9001],
    identity: 'spiffe://cluster.local/ns/demo/sa/web',
    defaultPolicy: 'DENY',
    targeted: true,
    authzRules: [
      {
        name: 'demo/web-readers',
        sources: ['spiffe://cluster.local/ns/demo/sa/client'],
        port: 8080,
        http: [{ path: { regex: '(?:/api/.*).*' }, methods: ['GET'], headers: [{ name: 'x-tenant', regex: 't-.*' }] }],
        tcp: true,
        tcpPorts: [9001],
      },
    ],
  },
  trustBundlePem: [
    '-----BEGIN CERTIFICATE-----\nMIIBanchor1\n-----END CERTIFICATE-----\n',
    '-----BEGIN CERTIFICATE-----\nMIIBanchor2\n-----END CERTIFICATE-----\n',
  ],
  egress: { allow: true },
  defaults: {
    timeoutMs: 10_000,
    retry: { maxRetries: 2, budgetRatio: 0.2, minRetriesPerSecond: 10, retryableGrpcStatuses: [14] },
    connectTimeoutMs: 1000,
  },
};

const certifyRequest: CertifyRequest = {
  identity: 'spiffe://cluster.local/ns/demo/sa/web',
  token: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2ln',
  csrPem: '-----BEGIN CERTIFICATE REQUEST-----\nMIIBcsr\n-----END CERTIFICATE REQUEST-----\n',
};

const certifyResponse: CertifyResponse = {
  leafPem: '-----BEGIN CERTIFICATE-----\nMIIBleaf\n-----END CERTIFICATE-----\n',
  intermediatesPem: ['-----BEGIN CERTIFICATE-----\nMIIBissuer\n-----END CERTIFICATE-----\n'],
  // Past 2^32 and past 2^31 seconds-as-ms: int64 must survive as a number.
  validUntilUnixMs: Date.UTC(2026, 10, 23, 12, 0, 0, 123),
};

const subscribe: Subscribe = {
  namespace: 'demo',
  pod: 'web-v1-6d4cf56db6-abcde',
  serviceAccount: 'web',
  version: 'v41-0c1d',
  token: 'bootstrap-token-1234',
};

const ack: Ack = { version: 'v42-7f3a', ok: true, error: 'none' };
const nack: Ack = { version: 'v43-9e8d', ok: false, error: 'route api-canary: invalid regex' };

const subscribeMessage: ProxyMessage = { subscribe };
const ackMessage: ProxyMessage = { ack };
const configUpdate: ConfigUpdate = { config: fullConfig, shutdown: { reason: 'WorkloadSucceeded' } };

// ---------------------------------------------------------------------------

describe('mesh.ts agrees with mesh.proto', () => {
  it('ProxyConfig round-trips unchanged', () => {
    expect(roundTrip('ProxyConfig', fullConfig)).toStrictEqual(fullConfig);
  });

  it('the ProxyConfig fixture sets every field of the schema', () => {
    expect(coverage('ProxyConfig', [fullConfig])).toEqual({ missing: [] });
  });

  it('each PathMatch and HeaderMatch oneof case round-trips alone', () => {
    for (const path of [{ exact: '/a' }, { prefix: '/api' }, { regex: '/u/[0-9]+' }]) {
      expect(roundTrip('PathMatch', path)).toStrictEqual(path);
    }
    for (const header of [{ name: 'x-a', exact: '1' }, { name: 'x-b', regex: 'b.*' }]) {
      expect(roundTrip('HeaderMatch', header)).toStrictEqual(header);
    }
  });

  it('InboundMode has the same names on both sides', () => {
    const names: Record<InboundMode, true> = { PERMISSIVE: true, STRICT: true };
    expect(Object.keys(root.lookupEnum(`${PKG}.InboundMode`).values).sort()).toEqual(Object.keys(names).sort());
    for (const mode of Object.keys(names)) {
      const inbound = { ...fullConfig.inbound, mode };
      expect(roundTrip('InboundPolicy', inbound)).toStrictEqual(inbound);
    }
  });

  it('CertifyRequest and CertifyResponse round-trip unchanged', () => {
    expect(roundTrip('CertifyRequest', certifyRequest)).toStrictEqual(certifyRequest);
    expect(roundTrip('CertifyResponse', certifyResponse)).toStrictEqual(certifyResponse);
    expect(coverage('CertifyRequest', [certifyRequest])).toEqual({ missing: [] });
    expect(coverage('CertifyResponse', [certifyResponse])).toEqual({ missing: [] });
  });

  it('Subscribe, Ack (and nack), ProxyMessage and ConfigUpdate round-trip unchanged', () => {
    expect(roundTrip('Subscribe', subscribe)).toStrictEqual(subscribe);
    expect(roundTrip('Ack', ack)).toStrictEqual(ack);
    expect(roundTrip('Ack', nack)).toStrictEqual(nack);
    expect(roundTrip('ProxyMessage', subscribeMessage)).toStrictEqual(subscribeMessage);
    expect(roundTrip('ProxyMessage', ackMessage)).toStrictEqual(ackMessage);
    expect(roundTrip('ConfigUpdate', configUpdate)).toStrictEqual(configUpdate);
    expect(coverage('ProxyMessage', [subscribeMessage, ackMessage])).toEqual({ missing: [] });
    expect(coverage('ConfigUpdate', [configUpdate])).toEqual({ missing: [] });
  });

  it('the check can fail: a field unknown to the schema is lost', () => {
    const extra = { ...subscribe, podUid: 'f00' };
    expect(roundTrip('Subscribe', extra)).not.toStrictEqual(extra);
    expect(coverage('Subscribe', [{ namespace: 'demo' }]).missing).toContain('Subscribe.token');
  });
});

// What grpc-js hands to handlers and clients: @grpc/proto-loader with the
// options the services load mesh.proto with. Same shapes as mesh.ts, plus two
// things consumers must allow for (pinned here so a change is noticed):
// - oneofs: true adds a virtual `kind` naming the set case of each oneof;
// - defaults: true turns an unset message field into null (not undefined).
describe('mesh.proto through @grpc/proto-loader (the gRPC path)', () => {
  const definition = loadSync(PROTO, {
    keepCase: false,
    enums: String,
    longs: Number,
    defaults: true,
    oneofs: true,
  });

  function isMessage(d: AnyDefinition | undefined): d is MessageTypeDefinition<object, object> {
    return d !== undefined && 'format' in d && d.format === 'Protocol Buffer 3 DescriptorProto';
  }

  function grpcRoundTrip(name: string, value: object): unknown {
    const message = definition[`${PKG}.${name}`];
    if (!isMessage(message)) throw new Error(`${PKG}.${name} is not a message type`);
    return message.deserialize(message.serialize(value));
  }

  /** The value with each oneof's virtual `kind` added, as proto-loader returns it. */
  function withKinds(type: protobuf.Type, value: unknown): unknown {
    if (typeof value !== 'object' || value === null) return value;
    const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    for (const oneof of type.oneofsArray) {
      const set = oneof.oneof.find((name) => out[name] !== undefined && out[name] !== null);
      if (set !== undefined) out[oneof.name] = set;
    }
    for (const field of type.fieldsArray) {
      field.resolve();
      const elementType = field.resolvedType;
      const v = out[field.name];
      if (!(elementType instanceof protobuf.Type) || v === undefined || v === null) continue;
      out[field.name] = Array.isArray(v) ? v.map((e) => withKinds(elementType, e)) : withKinds(elementType, v);
    }
    return out;
  }

  const expected = (name: string, value: object) => withKinds(root.lookupType(`${PKG}.${name}`), value);

  it('ProxyConfig, ProxyMessage and ConfigUpdate decode to mesh.ts shapes plus oneof `kind`', () => {
    expect(grpcRoundTrip('ProxyConfig', fullConfig)).toStrictEqual(expected('ProxyConfig', fullConfig));
    expect(grpcRoundTrip('ConfigUpdate', configUpdate)).toStrictEqual(expected('ConfigUpdate', configUpdate));
    expect(grpcRoundTrip('ProxyMessage', subscribeMessage)).toStrictEqual({ subscribe, kind: 'subscribe' });
    expect(grpcRoundTrip('ProxyMessage', ackMessage)).toStrictEqual({ ack, kind: 'ack' });
    expect(grpcRoundTrip('PathMatch', { prefix: '/api' })).toStrictEqual({ prefix: '/api', kind: 'prefix' });
  });

  it('Certify and Subscribe/Ack messages decode exactly to mesh.ts shapes', () => {
    expect(grpcRoundTrip('CertifyRequest', certifyRequest)).toStrictEqual(certifyRequest);
    expect(grpcRoundTrip('CertifyResponse', certifyResponse)).toStrictEqual(certifyResponse);
    expect(grpcRoundTrip('Subscribe', subscribe)).toStrictEqual(subscribe);
    expect(grpcRoundTrip('Ack', nack)).toStrictEqual(nack);
  });

  it('unset fields decode to defaults, and unset message fields to null', () => {
    expect(grpcRoundTrip('Route', { name: 'r' })).toStrictEqual({
      name: 'r',
      matches: [],
      backends: [],
      timeoutMs: 0,
      retry: null,
    });
    expect(grpcRoundTrip('HttpMatch', {})).toStrictEqual({ path: null, methods: [], headers: [] });
    expect(grpcRoundTrip('ConfigUpdate', {})).toStrictEqual({ config: null, shutdown: null });
  });
});
