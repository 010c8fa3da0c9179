#!/usr/bin/env node
// ensemble_savings_rpc: the ensemble part of test_analytics.sh over grpc-js.
//
// 1. AnalyticsService/Quality over the window: ensemble_calls,
//    ensemble_cost_usd and ensemble_savings_usd — the totals and per model —
//    against what the test computed from the ensembles' answers and the
//    registry's prices (EXPECT, a JSON file), cost and savings to the cent.
// 2. UsageService/ReportUsage with a forged snapshot — negative savings,
//    savings absurd for its call count, savings without a call — each
//    INVALID_ARGUMENT naming the field (the batch is stored not at all; the
//    shell test checks PostgreSQL afterwards).
//
// usage: NODE_PATH=tests/interop/node_modules node ensemble_savings_rpc.js TARGET TOKEN PROTO_DIR SINCE EXPECT
// Prints "ok - …" / "not ok - …" per check; exit 1 when any failed.
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [target, token, protoDir, since, expectFile] = process.argv.slice(2);
const want = JSON.parse(fs.readFileSync(expectFile, 'utf8'));
const load = (f) => grpc.loadPackageDefinition(protoLoader.loadSync(path.join(protoDir, f), {
  keepCase: true, longs: Number, defaults: true, includeDirs: [protoDir],
})).llmgw.v1;
const analytics = new (load('llmgw/v1/analytics.proto').AnalyticsService)(target, grpc.credentials.createInsecure());
const usage = new (load('llmgw/v1/usage.proto').UsageService)(target, grpc.credentials.createInsecure());
const md = new grpc.Metadata();
md.set('authorization', `Bearer ${token}`);
const call = (client, method, req) => new Promise((resolve) => {
  client[method](req, md, { deadline: Date.now() + 10000 }, (err, resp) => resolve({ err, resp }));
});

let failed = 0;
const check = (name, cond, info) => {
  if (cond) console.log(`ok - ${name}`);
  else { failed++; console.log(`not ok - ${name}: ${info}`); }
};
const cent = (a, b) => Math.abs(a - b) < 0.005;

async function main() {
  const { err, resp } = await call(analytics, 'Quality', { since });
  if (err) { check('Quality answers', false, `${err.code} ${err.details}`); return; }
  check(`Quality: ${want.calls} ensemble calls in the window`, resp.ensemble_calls === want.calls,
    `got ${resp.ensemble_calls}`);
  check(`Quality: ensemble cost $${want.cost.toFixed(4)} to the cent`, cent(resp.ensemble_cost_usd, want.cost),
    `got ${resp.ensemble_cost_usd}`);
  check(`Quality: ensemble savings $${want.savings.toFixed(4)} (est.) to the cent`,
    cent(resp.ensemble_savings_usd, want.savings), `got ${resp.ensemble_savings_usd}`);
  check('Quality: the savings are not zero (a cascade skipped stages, a vote stopped early)',
    resp.ensemble_savings_usd > 0.01, `got ${resp.ensemble_savings_usd}`);
  for (const [dep, w] of Object.entries(want.models)) {
    const m = resp.models.find((x) => `${x.provider}/${x.model}` === dep);
    check(`Quality: ${dep} chose ${w.calls} ensemble answers, saved $${w.savings.toFixed(4)}`,
      m && m.ensemble_calls === w.calls && cent(m.ensemble_cost_usd, w.cost) && cent(m.ensemble_savings_usd, w.savings),
      JSON.stringify(m));
  }
  const others = resp.models.filter((x) => !want.models[`${x.provider}/${x.model}`]);
  check('Quality: no other model has ensemble figures', others.every((x) => x.ensemble_calls === 0 &&
    x.ensemble_cost_usd === 0 && x.ensemble_savings_usd === 0), JSON.stringify(others));

  const now = Date.now();
  const forged = (snap) => ({
    node_id: 'dp1', epoch: 1, seq: 1,
    records: [{ request_id: `forged-${now}`, provider: 'a', model: 'fast', cost_usd: 0, status: 0, unix_ms: now }],
    metrics: [Object.assign({ minute_unix_ms: now - (now % 60000), provider: 'a', model: 'fast', route: '' }, snap)],
  });
  const bad = [
    [{ ensemble_calls: 1, ensemble_savings_usd: -0.5 }, 'metrics[0].ensemble_savings_usd: expected a finite number >= 0'],
    [{ ensemble_calls: 1, ensemble_savings_usd: 5e6 },
      'metrics[0].ensemble_savings_usd: 5000000.00 for 1 ensemble calls, expected at most $1000000 a call'],
    [{ ensemble_calls: 0, ensemble_savings_usd: 3 },
      'metrics[0].ensemble_savings_usd: 3.00 for 0 ensemble calls, expected at most $1000000 a call'],
    [{ ensemble_calls: 1, ensemble_cost_usd: -1 }, 'metrics[0].ensemble_cost_usd: expected a finite number >= 0'],
  ];
  for (const [snap, needle] of bad) {
    const r = await call(usage, 'ReportUsage', forged(snap));
    check(`ReportUsage ${JSON.stringify(snap)} is INVALID_ARGUMENT '${needle}'`,
      r.err && r.err.code === grpc.status.INVALID_ARGUMENT && r.err.details === needle,
      r.err ? `${r.err.code} ${r.err.details}` : 'accepted');
  }
}

main().then(() => process.exit(failed ? 1 : 0), (e) => { console.log(`not ok - ${e.stack}`); process.exit(1); });
