// A second, independent client: pure-JS HTTP/2 (@grpc/grpc-js) with the
// grpc-reflection-js reflection client, as grpcurl works: no .proto files.
// Lists services, describes RuntimeService, then calls Version with the
// message types learnt from reflection. Prints one JSON line.
'use strict';
const grpc = require('@grpc/grpc-js');
const { Client } = require('grpc-reflection-js');

async function main() {
  const sock = process.argv[2];
  const target = 'unix://' + sock;
  const refl = new Client(target, grpc.credentials.createInsecure());
  const services = await refl.listServices();
  const root = await refl.fileContainingSymbol('runtime.v1.RuntimeService');
  const svc = root.lookupService('runtime.v1.RuntimeService');
  const methods = Object.keys(svc.methods);
  const VersionRequest = root.lookupType('runtime.v1.VersionRequest');
  const VersionResponse = root.lookupType('runtime.v1.VersionResponse');
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  const version = await new Promise((resolve, reject) => {
    client.makeUnaryRequest('/runtime.v1.RuntimeService/Version',
      (m) => Buffer.from(VersionRequest.encode(m).finish()),
      (b) => VersionResponse.toObject(VersionResponse.decode(b)),
      VersionRequest.create({}), (err, resp) => (err ? reject(err) : resolve(resp)));
  });
  const unimpl = await new Promise((resolve) => {
    client.makeUnaryRequest('/runtime.v1.RuntimeService/CheckpointContainer',
      (m) => Buffer.alloc(0), (b) => b, {}, (err) => resolve(err ? err.code : 0));
  });
  client.close();
  console.log(JSON.stringify({ services, methods, version, unimplemented_code: unimpl }));
}

main().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
