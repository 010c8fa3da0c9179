#!/usr/bin/env node
// compat_sdk: the official `openai` npm SDK against llmgw's compatibility
// features, for test_compat.sh: the deprecated `functions` parameter answered
// with message.function_call, legacy completions.create bridged to an
// Anthropic-format provider, and the SDK's AzureOpenAI client (api-key
// header, /openai/deployments/{deployment}/… paths, the api-version query)
// reaching an Azure-style provider with its api-version.
//
// usage: NODE_PATH=tests/interop/node_modules node compat_sdk.js BASE_URL KEY
// BASE_URL is the gateway's http://host:port. Prints "ok - …" / "not ok - …";
// exit 1 when any failed.
'use strict';

const { OpenAI, AzureOpenAI } = require('openai');

const [base, key] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });
const azure = new AzureOpenAI({
  baseURL: `${base}/openai`, apiKey: key, apiVersion: '2024-10-21', maxRetries: 0,
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
  const fn = await client.chat.completions.create({
    model: 'tools/gpt-4o-mini',
    messages: [{ role: 'user', content: 'weather in Oslo?' }],
    functions: [{ name: 'get_weather', parameters: { type: 'object', properties: {} } }],
  });
  const m = fn.choices[0].message;
  check('SDK functions: answered with message.function_call',
    m.function_call && m.function_call.name === 'get_weather' && !m.tool_calls &&
    fn.choices[0].finish_reason === 'function_call', fn.choices[0]);

  const cmpl = await client.completions.create({ model: 'claude/claude-x', prompt: 'bridge me',
    max_tokens: 20 });
  check('SDK completions.create bridged to an Anthropic provider',
    cmpl.object === 'text_completion' && cmpl.choices[0].text === '[sim] bridge me', cmpl);

  const az = await azure.chat.completions.create({
    model: 'az/gpt-4o-mini', messages: [{ role: 'user', content: 'via azure' }], max_tokens: 4,
  });
  const echo = az.choices[0].message.content;
  check('AzureOpenAI client: deployment path, api-key and api-version forwarded',
    echo.includes('path=/openai/deployments/gpt-4o-mini/chat/completions api-version=2024-10-21 ') &&
    echo.includes('"max_completion_tokens":4'), echo);

  const { response } = await client.chat.completions.create({
    model: 'groq/gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], logprobs: true,
  }).withResponse();
  check('SDK sees llmgw-warning', response.headers.get('llmgw-warning') ===
    'dropped logprobs for groq', response.headers.get('llmgw-warning'));

  let status = 0;
  let param = null;
  try {
    await client.chat.completions.create({ model: 'sim-echo/gpt-4o-mini',
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://x' } }] }] });
  } catch (e) {
    status = e.status;
    param = e.param;
  }
  check('SDK error carries the JSON path as param', status === 400 &&
    param === 'messages[0].content[0].image_url.url', [status, param]);
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.log(`not ok - unexpected: ${e.stack || e}`);
  process.exit(1);
});
