#!/usr/bin/env node
// Interop check: grpc-js (a gRPC stack nobody on this project wrote) against
// llmgw-dataplane. It loads the .proto files at run time (no generated code)
// and calls Health/Check, ChatService/ListModels, Complete and Stream, then
// asserts every answer against what llmgw-sim deterministically returns:
// content "[<sim name>] <prompt>", prompt_tokens = words + 4 per message,
// completion_tokens = words of the answer.
//
// usage: node client.js --target HOST:PORT --key KEY --sim-name NAME
//                       [--route NAME] [--model NAME] [--failing-provider NAME]
//                       [--proto-dir DIR]
// --failing-provider names a provider the route tries first and that cannot
// answer: the route decision must then show its failed attempt.
// Exit status: 0 when every check passed, 1 otherwise (each failure printed).
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function parseArgs(argv) {
  const opts = {
    target: null,
    key: null,
    simName: null,
    route: 'chat-default',
    model: 'gpt-4o-mini',
    failingProvider: null,
    protoDir: path.join(__dirname, '..', '..', 'proto'),
  };
  const names = {
    '--target': 'target',
    '--key': 'key',
    '--sim-name': 'simName',
    '--route': 'route',
    '--model': 'model',
    '--failing-provider': 'failingProvider',
    '--proto-dir': 'protoDir',
  };
  for (let i = 2; i < argv.length; i++) {
    const field = names[argv[i]];
    if (!field) throw new Error(`unknown argument '${argv[i]}'`);
    if (i + 1 >= argv.length) throw new Error(`${argv[i]}: missing value`);
    opts[field] = argv[++i];
  }
  for (const f of ['--target', '--key', '--sim-name']) {
    if (!opts[names[f]]) throw new Error(`${f}: required`);
  }
  return opts;
}

const words = (s) => s.split(/\s+/).filter((w) => w.length > 0).length;

class Checks {
  constructor() {
    this.passed = 0;
    this.failed = 0;
  }
  async run(name, fn) {
    try {
      await fn();
      this.passed++;
      console.log(`ok - ${name}`);
    } catch (e) {
      this.failed++;
      console.log(`not ok - ${name}: ${e.message}`);
    }
  }
}

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

function expectEq(actual, want, what) {
  if (actual !== want) {
    throw new Error(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(actual)}`);
  }
}

function deadline() {
  return new Date(Date.now() + 10000);
}

function unary(client, method, req, md) {
  return new Promise((resolve, reject) => {
    client[method](req, md, { deadline: deadline() }, (err, resp) =>
      err ? reject(err) : resolve(resp),
    );
  });
}

function stream(client, req, md) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    const call = client.Stream(req, md, { deadline: deadline() });
    call.on('data', (c) => chunks.push(c));
    call.on('error', reject);
    call.on('end', () => resolve(chunks));
  });
}

// Resolves to the gRPC error of a call that must fail.
async function failure(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Error('the call succeeded but must fail');
}

function bearer(key) {
  const md = new grpc.Metadata();
  if (key !== null) md.set('authorization', `Bearer ${key}`);
  return md;
}

function chatRequest(model, prompt, extra) {
  return Object.assign({ model, messages: [{ role: 'user', content: prompt }] }, extra || {});
}

// The route decision of a successful call through `opts.route`. With
// `failover`, the failing provider's attempt must come first: only asked of the
// first call, since a breaker or health check may later skip that provider.
function checkRoute(route, opts, provider, failover) {
  expect(route, 'route: missing');
  expectEq(route.provider, provider, 'route.provider');
  expectEq(route.model, opts.model, 'route.model');
  expect(route.attempts.length >= 1, 'route.attempts: empty');
  const last = route.attempts[route.attempts.length - 1];
  expectEq(last.provider, provider, 'route.attempts[last].provider');
  expectEq(last.error, '', 'route.attempts[last].error');
  if (failover && opts.failingProvider) {
    expect(route.attempts.length >= 2, `route.attempts: expected the failed attempt on ${opts.failingProvider} first, got ${route.attempts.length} attempt(s)`);
    const first = route.attempts[0];
    expectEq(first.provider, opts.failingProvider, 'route.attempts[0].provider');
    expect(first.error !== '', 'route.attempts[0].error: empty for a failed attempt');
    expect(first.error_type !== '', 'route.attempts[0].error_type: empty for a failed attempt');
    expectEq(first.retryable, true, 'route.attempts[0].retryable');
  }
}

function checkUsage(usage, prompt, answer) {
  expect(usage, 'usage: missing');
  expect(usage.total_tokens > 0, `usage.total_tokens: expected > 0, got ${usage.total_tokens}`);
  expectEq(usage.prompt_tokens, words(prompt) + 4, 'usage.prompt_tokens');
  expectEq(usage.completion_tokens, words(answer), 'usage.completion_tokens');
  expectEq(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens, 'usage.total_tokens');
}

async function main() {
  const opts = parseArgs(process.argv);
  const def = protoLoader.loadSync(['llmgw/v1/chat.proto', 'grpc/health/v1/health.proto'], {
    includeDirs: [opts.protoDir],
    keepCase: true,
    oneofs: true,
    longs: Number,
    enums: String,
    defaults: true,
  });
  const pkg = grpc.loadPackageDefinition(def);
  const creds = grpc.credentials.createInsecure();
  const chat = new pkg.llmgw.v1.ChatService(opts.target, creds);
  const health = new pkg.grpc.health.v1.Health(opts.target, creds);
  const md = () => bearer(opts.key);
  const sim = opts.simName;
  const direct = `${sim}/${opts.model}`;
  const t = new Checks();

  await t.run('health check reports SERVING', async () => {
    const r = await unary(health, 'Check', { service: '' }, new grpc.Metadata());
    expectEq(r.status, 'SERVING', 'status');
  });

  await t.run('ListModels lists the route and the deployment', async () => {
    const r = await unary(chat, 'ListModels', {}, md());
    const route = r.models.find((m) => m.id === opts.route);
    const dep = r.models.find((m) => m.id === direct);
    expect(route, `models: no route '${opts.route}' in ${JSON.stringify(r.models.map((m) => m.id))}`);
    expectEq(route.kind, 'route', `${opts.route}.kind`);
    expect(route.deployments.includes(direct), `${opts.route}.deployments: no '${direct}'`);
    expect(dep, `models: no deployment '${direct}'`);
    expectEq(dep.kind, 'deployment', `${direct}.kind`);
    expectEq(dep.provider, sim, `${direct}.provider`);
    expectEq(dep.model, opts.model, `${direct}.model`);
    expect(typeof r.table_version === 'number', 'table_version: not a number');
  });

  await t.run('Complete through a route answers with the sim content, usage and route', async () => {
    const prompt = 'hello from grpc-js';
    const want = `[${sim}] ${prompt}`;
    const r = await unary(chat, 'Complete', chatRequest(opts.route, prompt), md());
    expectEq(r.choices.length, 1, 'choices.length');
    expectEq(r.choices[0].message.role, 'assistant', 'choices[0].message.role');
    expectEq(r.choices[0].message.content, want, 'choices[0].message.content');
    expectEq(r.choices[0].finish_reason, 'stop', 'choices[0].finish_reason');
    expectEq(r.provider, sim, 'provider');
    expectEq(r.model, opts.model, 'model');
    expect(r.id !== '', 'id: empty');
    checkUsage(r.usage, prompt, want);
    expect(r.cost_usd > 0, `cost_usd: expected > 0 with the table's prices, got ${r.cost_usd}`);
    checkRoute(r.route, opts, sim, true);
    expectEq(r.route.route, opts.route, 'route.route');
  });

  await t.run('Complete with provider/model is routed directly', async () => {
    const prompt = 'direct please';
    const r = await unary(chat, 'Complete', chatRequest(direct, prompt), md());
    expectEq(r.choices[0].message.content, `[${sim}] ${prompt}`, 'choices[0].message.content');
    expectEq(r.route.provider, sim, 'route.provider');
    expectEq(r.route.strategy, 'direct', 'route.strategy');
  });

  await t.run('Complete carries oneof sampling fields (max_tokens truncates)', async () => {
    const prompt = 'one two three four five';
    const r = await unary(
      chat,
      'Complete',
      chatRequest(direct, prompt, { temperature: 0.2, max_tokens: 2 }),
      md(),
    );
    expectEq(r.choices[0].message.content, `[${sim}] one`, 'choices[0].message.content');
    expectEq(r.choices[0].finish_reason, 'length', 'choices[0].finish_reason');
    expectEq(r.usage.completion_tokens, 2, 'usage.completion_tokens');
  });

  await t.run('Stream deltas add up to the content; the last chunk has usage and route', async () => {
    const prompt = 'stream these words to grpc-js';
    const want = `[${sim}] ${prompt}`;
    const chunks = await stream(chat, chatRequest(opts.route, prompt), md());
    expect(chunks.length >= 2, `chunks: expected several, got ${chunks.length}`);
    let text = '';
    for (const c of chunks) {
      for (const ch of c.choices) if (ch.delta) text += ch.delta.content;
    }
    expectEq(text, want, 'concatenated deltas');
    const last = chunks[chunks.length - 1];
    checkUsage(last.usage, prompt, want);
    checkRoute(last.route, opts, sim, false);
    expect(last.cost_usd > 0, `last chunk cost_usd: expected > 0, got ${last.cost_usd}`);
    chunks.slice(0, -1).forEach((c, i) => {
      expect(c.usage === null, `chunk ${i}: usage set before the last chunk`);
      expect(c.route === null, `chunk ${i}: route set before the last chunk`);
    });
    const finish = chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter((f) => f);
    expectEq(finish.join(','), 'stop', 'finish_reason over the stream');
  });

  await t.run('Complete with an unknown model fails with NOT_FOUND', async () => {
    const e = await failure(unary(chat, 'Complete', chatRequest('no-such-route', 'hi'), md()));
    expectEq(e.code, grpc.status.NOT_FOUND, `code (details: ${e.details})`);
  });

  await t.run('Stream with an unknown model fails with NOT_FOUND', async () => {
    const e = await failure(stream(chat, chatRequest('no-such-route', 'hi'), md()));
    expectEq(e.code, grpc.status.NOT_FOUND, `code (details: ${e.details})`);
  });

  await t.run('Complete without a key fails with UNAUTHENTICATED', async () => {
    const e = await failure(
      unary(chat, 'Complete', chatRequest(opts.route, 'hi'), new grpc.Metadata()),
    );
    expectEq(e.code, grpc.status.UNAUTHENTICATED, `code (details: ${e.details})`);
  });

  await t.run('Complete with a wrong key fails with UNAUTHENTICATED', async () => {
    const e = await failure(
      unary(chat, 'Complete', chatRequest(opts.route, 'hi'), bearer(`${opts.key}-wrong`)),
    );
    expectEq(e.code, grpc.status.UNAUTHENTICATED, `code (details: ${e.details})`);
  });

  chat.close();
  health.close();
  console.log(`${t.passed} passed, ${t.failed} failed`);
  return t.failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`client.js: ${e.message}`);
    process.exit(1);
  },
);
