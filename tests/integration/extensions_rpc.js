#!/usr/bin/env node
// extensions_rpc: the extension checks test_extensions.sh cannot make with
// curl — RoutingService/Extensions (the listing, the name filter and its
// NOT_FOUND), and the gRPC door's request hooks: a Complete through the
// cohere adapter, and a prompt refused by prompt_guard as RESOURCE_EXHAUSTED.
//
// usage: NODE_PATH=tests/interop/node_modules node extensions_rpc.js TARGET KEY PROTO_DIR
// Prints "ok - …" / "not ok - …" per check; exit 1 when any failed.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [target, key, protoDir] = process.argv.slice(2);
const opts = { keepCase: true, longs: Number, defaults: true, oneofs: true, includeDirs: [protoDir] };
const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(
  [path.join(protoDir, 'llmgw/v1/chat.proto'), path.join(protoDir, 'llmgw/v1/routing.proto')],
  opts)).llmgw.v1;
const routing = new pkg.RoutingService(target, grpc.credentials.createInsecure());
const chat = new pkg.ChatService(target, grpc.credentials.createInsecure());
const md = () => {
  const m = new grpc.Metadata();
  m.set('authorization', `Bearer ${key}`);
  return m;
};
const call = (client, method, req) => new Promise((resolve) => {
  client[method](req, md(), { deadline: Date.now() + 10000 },
    (err, resp) => resolve({ err, resp }));
});

let failed = 0;
const check = (name, cond, info) => {
  if (cond) console.log(`ok - ${name}`);
  else {
    failed++;
    console.log(`not ok - ${name}: ${JSON.stringify(info)}`);
  }
};

(async () => {
  let r = await call(routing, 'Extensions', {});
  const list = r.resp ? r.resp.extensions : [];
  const byName = Object.fromEntries(list.map((e) => [e.name, e]));
  check('Extensions lists both', !r.err && list.length === 2 && byName.cohere && byName.prompt_guard,
    r.err || list);
  check('Extensions: ABI version', r.resp && r.resp.abi_version === 1, r.resp);
  check('Extensions: cohere registered the cohere wire format',
    byName.cohere && byName.cohere.adapters.join() === 'cohere' && byName.cohere.version === '1.0.0'
      && byName.cohere.abi_version === 1 && byName.cohere.healthy, byName.cohere);
  check('Extensions: prompt_guard registered one request hook',
    byName.prompt_guard && byName.prompt_guard.request_hooks === 1
      && byName.prompt_guard.adapters.length === 0 && byName.prompt_guard.healthy
      && /passed=\d+ refused=\d+/.test(byName.prompt_guard.health_message), byName.prompt_guard);
  r = await call(routing, 'Extensions', { name: 'cohere' });
  check('Extensions name filter', !r.err && r.resp.extensions.length === 1, r.err || r.resp);
  r = await call(routing, 'Extensions', { name: 'nope' });
  check('Extensions unknown name: NOT_FOUND',
    r.err && r.err.code === grpc.status.NOT_FOUND && /nope/.test(r.err.details), r.err);

  r = await call(chat, 'Complete', {
    model: 'cohere-sim/command-a', messages: [{ role: 'user', content: 'grpc through cohere' }],
  });
  check('Complete through the cohere adapter', !r.err && r.resp.choices[0].message.content
    === '[sim-c] grpc through cohere' && r.resp.provider === 'cohere-sim'
    && r.resp.usage.completion_tokens === 4, r.err || r.resp);
  r = await call(chat, 'Complete', {
    model: 'cohere-sim/command-a', messages: [{ role: 'user', content: 'x'.repeat(300) }],
  });
  check('prompt_guard refuses on the gRPC door: RESOURCE_EXHAUSTED',
    r.err && r.err.code === grpc.status.RESOURCE_EXHAUSTED
      && /prompt_guard: prompt is 300 bytes/.test(r.err.details), r.err);
  process.exit(failed ? 1 : 0);
})();
