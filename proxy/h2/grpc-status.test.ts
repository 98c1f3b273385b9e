import { describe, expect, it } from 'vitest';
import { encodeGrpcMessage, encodeGrpcTimeout, grpcStatusOf, grpcTimeoutMs, isGrpc } from './grpc-status.ts';

describe('isGrpc', () => {
  it.each([
    ['application/grpc', true],
    ['application/grpc+proto', true],
    ['application/grpc; charset=utf-8', true],
    ['Application/GRPC', true],
    ['application/grpc-web', false],
    ['application/grpcx', false],
    ['application/json', false],
    [undefined, false],
  ])('%s -> %s', (ct, want) => {
    expect(isGrpc(ct === undefined ? {} : { 'content-type': ct })).toBe(want);
  });
});

describe('grpcStatusOf', () => {
  it('reads a decimal grpc-status, else undefined', () => {
    expect(grpcStatusOf({ 'grpc-status': '0' })).toBe(0);
    expect(grpcStatusOf({ 'grpc-status': '14' })).toBe(14);
    expect(grpcStatusOf({ 'grpc-status': '99' })).toBe(99);
    expect(grpcStatusOf({})).toBeUndefined();
    expect(grpcStatusOf({ 'grpc-status': '' })).toBeUndefined();
    expect(grpcStatusOf({ 'grpc-status': 'OK' })).toBeUndefined();
    expect(grpcStatusOf({ 'grpc-status': '-1' })).toBeUndefined();
    expect(grpcStatusOf({ 'grpc-status': '1e3' })).toBeUndefined();
  });
});

describe('grpcTimeoutMs', () => {
  it.each([
    ['1H', 3_600_000],
    ['2M', 120_000],
    ['3S', 3_000],
    ['250m', 250],
    ['1500u', 2],
    ['1u', 1],
    ['999999n', 1],
    ['0m', 0],
    ['99999999m', 99_999_999],
  ])('%s -> %d ms', (v, ms) => {
    expect(grpcTimeoutMs({ 'grpc-timeout': v })).toBe(ms);
  });

  it.each(['', 'm', '10', '10s', '10 m', '-5m', '123456789m', '1.5S', '10mm'])('%j is invalid', (v) => {
    expect(grpcTimeoutMs({ 'grpc-timeout': v })).toBe('invalid');
  });

  it('absent: no deadline', () => {
    expect(grpcTimeoutMs({})).toBeUndefined();
  });

  it('what is sent on parses back to at least what was left', () => {
    for (const ms of [0, 0.2, 1, 999.5, 5_000, 1e8 + 1, 1e12]) {
      const back = grpcTimeoutMs({ 'grpc-timeout': encodeGrpcTimeout(ms) });
      expect(typeof back).toBe('number');
      expect(back as number).toBeGreaterThanOrEqual(Math.min(Math.ceil(ms), 99_999_999_000));
    }
  });
});

describe('encodeGrpcMessage', () => {
  it('percent-encodes % and bytes outside printable ASCII, as UTF-8', () => {
    expect(encodeGrpcMessage('plain text: ok')).toBe('plain text: ok');
    expect(encodeGrpcMessage('50% off')).toBe('50%25 off');
    expect(encodeGrpcMessage('line\nbreak')).toBe('line%0Abreak');
    expect(encodeGrpcMessage('café')).toBe('caf%C3%A9');
  });
});
