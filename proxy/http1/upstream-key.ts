// The key of an mTLS upstream pool: endpoint address, port and the identity it
// must present (a pooled connection is reused only for the identity it was
// verified against). Used by config compilation and the pool alike.

/** "address:port|identity" */
export function tlsAgentKey(address: string, port: number, identity: string): string {
  return `${address}:${port}|${identity}`;
}
