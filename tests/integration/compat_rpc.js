#!/usr/bin/env node
// compat_rpc: schema validation and compatibility over gRPC, with grpc-js,
// for test_compat.sh: INVALID_ARGUMENT naming the OpenAI JSON path of a bad
// *_json field at each depth, the llmgw-warning trailer when the serving
// provider drops a field, and ChatRequest.api_version forwarded to an
// Azure-style provider (the sim echoes what it received).
//
// usage: NODE_PATH=tests/interop/node_modules node compat_rpc.js TARGET KEY PROTO_DIR
// Prints "ok - …" / "not ok - …" per check; exit 1 when any failed.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [target, key, protoDir] = process.argv.slice(2);
const def = protoLoader.loadSync(path.join(protoDir, 'llmgw/v1/chat.proto'), {
  keepCase: true, longs: Number, defaults: true, oneofs: true, includeDirs: [protoDir],
});
const Chat = grpc.loadPackageDefinition(def).llmgw.v1.ChatService;
const client = new Chat(target, grpc.credentials.createInsecure());
const md = () => {
  const m = new grpc.Metadata();
  m.set('authorization', `Bearer ${key}`);
  return m;
};
const user = [{ role: 'user', content: 'grpc compat' }];
// Resolves {err, resp, trailers}.
const complete = (req) => new Promise((resolve) => {
  let trailers = null;
  const call = client.Complete(req, md(), { deadline: Date.now() + 10000 },
    (err, resp) => setImmediate(() => resolve({ err, resp, trailers })));
  call.on('status', (s) => { trailers = s.metadata; });
});

let failed = 0;
const check = (name, cond, info) => {
  if (cond) console.log(`ok - ${name}`);
  else {
    failed++;
    console.log(`not ok - ${name}${info !== undefined ? `: ${JSON.stringify(info)}` : ''}`);
  }
};
const invalid = async (name, req, want) => {
  const { err } = await complete(req);
  check(`INVALID_ARGUMENT ${want}`, err && err.code === grpc.status.INVALID_ARGUMENT &&
    err.details.startsWith(want), err ? [err.code, err.details] : 'no error');
};

(async () => {
  const m = 'sim-echo/gpt-4o-mini';
  await invalid('tools', { model: m, messages: user,
    tools_json: '[{"type":"function","function":{"name":"f","parameters":3}}]' },
  'tools[0].function.parameters: expected an object');
  await invalid('tool_choice', { model: m, messages: user,
    tools_json: '[{"type":"function","function":{"name":"f"}}]',
    tool_choice_json: '{"type":"function","function":{"name":"g"}}' },
  'tool_choice.function.name: names no tool in tools');
  await invalid('response_format', { model: m, messages: user,
    response_format_json: '{"type":"xml"}' }, 'response_format.type: expected one of');
  await invalid('content parts', { model: m, messages: [{ role: 'user', content: 'a' },
    { role: 'assistant', content: 'b' },
    { role: 'user', content_parts_json: '[{"type":"image_url","image_url":{"url":"file:///x"}}]' }] },
  'messages[2].content[0].image_url.url: expected an http(s) URL');
  await invalid('tool_calls', { model: m, messages: [{ role: 'user', content: 'a' },
    { role: 'assistant', tool_calls_json: '[{"id":"c","type":"function","function":{}}]' }] },
  'messages[1].tool_calls[0].function.name: required');
  await invalid('extra_body range', { model: m, messages: user,
    extra_body_json: '{"top_logprobs":99}' }, 'top_logprobs: expected an integer from 0 to 20');
  await invalid('legacy in extra_body', { model: m, messages: user,
    extra_body_json: '{"functions":[{"name":"f"}]}' }, 'functions: set tools_json instead');
  await invalid('api_version', { model: m, messages: user, api_version: 'latest' },
    'api-version: expected YYYY-MM-DD');

  const dropped = await complete({ model: 'groq/gpt-4o-mini', messages: user,
    extra_body_json: '{"logprobs":true,"some_new_field":1}' });
  check('dropping provider answers', !dropped.err, dropped.err && dropped.err.details);
  const w = dropped.trailers ? dropped.trailers.get('llmgw-warning') : [];
  check('llmgw-warning trailer names the dropped field', w.length === 1 &&
    w[0] === 'dropped logprobs for groq', w);
  const body = dropped.resp ? dropped.resp.choices[0].message.content : '';
  check('the unknown field reached the provider, the dropped one did not',
    body.includes('"some_new_field":1') && !body.includes('logprobs'), body);

  const az = await complete({ model: 'az/gpt-4o-mini', messages: user, max_tokens: 5,
    api_version: '2024-10-21' });
  const echo = az.resp ? az.resp.choices[0].message.content : '';
  check('api_version forwarded to the Azure-style provider',
    echo.includes('api-version=2024-10-21') && echo.includes('"max_completion_tokens":5'),
    az.err ? az.err.details : echo);
  const plain = await complete({ model: 'sim-echo/gpt-4o-mini', messages: user,
    api_version: '2024-10-21' });
  const pw = plain.trailers ? plain.trailers.get('llmgw-warning') : [];
  check('api_version elsewhere: ignored, with a warning', !plain.err &&
    pw[0] === 'api-version ignored for sim-echo' &&
    plain.resp.choices[0].message.content.includes('api-version=-'), [pw, plain.err]);

  const streamed = await new Promise((resolve) => {
    let trailers = null;
    const chunks = [];
    const call = client.Stream({ model: 'groq/gpt-4o-mini', messages: user,
      extra_body_json: '{"logit_bias":{"1":1}}' }, md(), { deadline: Date.now() + 10000 });
    call.on('data', (c) => chunks.push(c));
    call.on('status', (st) => { trailers = st.metadata; });
    call.on('error', (e) => resolve({ err: e, chunks, trailers }));
    call.on('end', () => setImmediate(() => resolve({ err: null, chunks, trailers })));
  });
  const sw = streamed.trailers ? streamed.trailers.get('llmgw-warning') : [];
  check('Stream: llmgw-warning trailer', !streamed.err && streamed.chunks.length > 1 &&
    sw[0] === 'dropped logit_bias for groq', [streamed.err && streamed.err.details, sw]);

  client.close();
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.log(`not ok - unexpected: ${e.stack || e}`);
  process.exit(1);
});
