#!/usr/bin/env node
// cache_rpc: the response cache through gRPC, with grpc-js, for
// test_cache.sh — what the llmgw CLI cannot send: the cache-control
// metadata. Complete on a caching route twice (the second a hit: same id,
// route.cache_hit, strategy "cache", no attempts, zero usage and cost), then
// with cache-control: no-cache (a miss), and Stream twice (the second
// replayed: same chunks, closing chunk marked cache_hit).
//
// usage: NODE_PATH=tests/interop/node_modules node cache_rpc.js TARGET KEY PROTO_DIR ROUTE
// Prints "ok - …" / "not ok - …" per check; exit 1 when any failed.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [target, key, protoDir, route] = process.argv.slice(2);
const def = protoLoader.loadSync(path.join(protoDir, 'llmgw/v1/chat.proto'), {
  keepCase: true, longs: Number, defaults: true, oneofs: true, includeDirs: [protoDir],
});
const Chat = grpc.loadPackageDefinition(def).llmgw.v1.ChatService;
const client = new Chat(target, grpc.credentials.createInsecure());
const md = (noCache) => {
  const m = new grpc.Metadata();
  m.set('authorization', `Bearer ${key}`);
  if (noCache) m.set('cache-control', 'no-cache');
  return m;
};
const req = {
  model: route,
  messages: [{ role: 'user', content: 'grpc cache check' }],
  temperature: 0,
};
const complete = (noCache) => new Promise((resolve, reject) => {
  client.Complete(req, md(noCache), { deadline: Date.now() + 10000 },
    (err, resp) => (err ? reject(err) : resolve(resp)));
});
const stream = () => new Promise((resolve, reject) => {
  const chunks = [];
  const call = client.Stream(req, md(false), { deadline: Date.now() + 10000 });
  call.on('data', (c) => chunks.push(c));
  call.on('error', reject);
  call.on('end', () => resolve(chunks));
});

let failed = 0;
const check = (name, cond, info) => {
  if (cond) console.log(`ok - ${name}`);
  else {
    failed++;
    console.log(`not ok - ${name}${info !== undefined ? `: ${JSON.stringify(info)}` : ''}`);
  }
};

(async () => {
  const first = await complete(false);
  check('first Complete is not a hit', !first.route.cache_hit && first.route.attempts.length === 1,
    first.route);
  const hit = await complete(false);
  check('second Complete is the stored answer', hit.id === first.id, [hit.id, first.id]);
  check('a hit is marked in the route', hit.route.cache_hit && hit.route.strategy === 'cache' &&
    hit.route.attempts.length === 0 && hit.route.reason.startsWith('cache hit: '), hit.route);
  check('a hit costs nothing', hit.cost_usd === 0 && hit.usage.prompt_tokens === 0 &&
    hit.usage.completion_tokens === 0, [hit.cost_usd, hit.usage]);
  check('a hit names who produced it', hit.provider === first.provider &&
    hit.route.provider === first.route.provider, hit.route);
  const bypass = await complete(true);
  check('cache-control: no-cache metadata bypasses the cache',
    !bypass.route.cache_hit && bypass.id !== first.id, bypass.route);

  const s1 = await stream();
  const s2 = await stream();
  const text = (cs) => cs.map((c) => (c.choices[0] && c.choices[0].delta
    ? c.choices[0].delta.content : '')).join('');
  const last = (cs) => cs[cs.length - 1];
  check('first Stream is not a hit', s1.length > 1 && !last(s1).route.cache_hit, last(s1).route);
  check('second Stream replays the chunks', s2.length === s1.length && text(s2) === text(s1) &&
    s2[0].id === s1[0].id, [s1.length, s2.length]);
  check('a replayed stream is marked and free', last(s2).route.cache_hit &&
    last(s2).cost_usd === 0 && last(s2).usage.completion_tokens === 0, last(s2).route);
  client.close();
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.log(`not ok - unexpected error: ${e.message}`);
  process.exit(1);
});
