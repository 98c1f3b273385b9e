// Loads mesh.proto for @grpc/grpc-js, once, with the options every Weft
// component uses (lowerCamelCase fields, enums as names, defaults filled),
// so decoded messages have the shapes of mesh.ts. No logic.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const MESH_PROTO_PATH = fileURLToPath(new URL('./mesh.proto', import.meta.url));

export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** Largest message either side accepts: a config snapshot of a large cluster fits; junk does not. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export interface MeshGrpc {
  Config: grpc.ServiceClientConstructor;
  Identity: grpc.ServiceClientConstructor;
}

let loaded: MeshGrpc | undefined;

export function meshGrpc(): MeshGrpc {
  if (loaded === undefined) {
    const def = protoLoader.loadSync(MESH_PROTO_PATH, PROTO_LOADER_OPTIONS);
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      weft: { mesh: { v1: { Config: grpc.ServiceClientConstructor; Identity: grpc.ServiceClientConstructor } } };
    };
    loaded = { Config: pkg.weft.mesh.v1.Config, Identity: pkg.weft.mesh.v1.Identity };
  }
  return loaded;
}

/** Metadata key carrying a Weft error code on a gRPC error status. */
export const GRPC_ERROR_CODE_KEY = 'weft-error';
