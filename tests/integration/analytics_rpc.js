#!/usr/bin/env node
// analytics_rpc: AnalyticsService over grpc-js, for test_analytics.sh — what
// the llmgw CLI refuses before sending: inverted and malformed windows and
// unknown group_by, each INVALID_ARGUMENT naming the field; and the RPCs the
// CLI has no report for (RoutingDecisions, Quality, Throughput) against the
// traffic the test sent.
//
// usage: NODE_PATH=tests/interop/node_modules node analytics_rpc.js TARGET TOKEN PROTO_DIR SINCE
// Prints "ok - …" / "not ok - …" per check; exit 1 when any failed.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [target, token, protoDir, since] = process.argv.slice(2);
const def = protoLoader.loadSync(path.join(protoDir, 'llmgw/v1/analytics.proto'), {
  keepCase: true, longs: Number, defaults: true, includeDirs: [protoDir],
});
const Analytics = grpc.loadPackageDefinition(def).llmgw.v1.AnalyticsService;
const client = new Analytics(target, grpc.credentials.createInsecure());
const md = new grpc.Metadata();
md.set('authorization', `Bearer ${token}`);

const call = (method, req) => new Promise((resolve) => {
  client[method](req, md, { deadline: Date.now() + 10000 }, (err, resp) => resolve({ err, resp }));
});

let failed = 0;
const check = (name, cond, info) => {
  if (cond) console.log(`ok - ${name}`);
  else { failed++; console.log(`not ok - ${name}: ${info}`); }
};

async function refused(method, req, needle) {
  const { err } = await call(method, req);
  check(`${method} ${JSON.stringify(req)} is INVALID_ARGUMENT naming '${needle}'`,
    err && err.code === grpc.status.INVALID_ARGUMENT && err.details.startsWith(needle),
    err ? `${err.code} ${err.details}` : 'accepted');
}

async function main() {
  const inverted = { since: '2026-12-03T10:00:00Z', until: '2026-12-03T09:00:00Z' };
  for (const m of ['ProviderPerformance', 'RoutingDecisions', 'Quality', 'Throughput']) {
    await refused(m, inverted, 'until: must be after since');
  }
  await refused('CostReport', { ...inverted, group_by: 'team' }, 'until: must be after since');
  await refused('CostReport', { since, group_by: 'colour' },
    'group_by: expected one of provider, model, route, team, key');
  await refused('CostReport', { since }, 'group_by: expected one of');
  await refused('ProviderPerformance', { since: 'last tuesday' }, 'since: expected an RFC 3339 time');
  await refused('Throughput', { until: '2026-13-01T00:00:00Z' }, 'until: expected an RFC 3339 time');
  await refused('Throughput', { since: '2020-01-01T00:00:00Z', until: '2026-01-01T00:00:00Z' },
    'since: the window is at most 400 days');
  await refused('RoutingDecisions', { since, route: "r'; DROP TABLE x" }, 'route: expected a name');

  let r = await call('RoutingDecisions', { since });
  if (r.err) throw new Error(`RoutingDecisions: ${r.err.details}`);
  const d = r.resp;
  const find = (route, reason) => d.decisions.filter((x) => x.route === route && x.reason === reason)
    .reduce((n, x) => n + x.count, 0);
  check('RoutingDecisions: 100 decisions', d.total_decisions === 100, d.total_decisions);
  check('RoutingDecisions: r-fb 5 fallbacks and 3 excluded',
    find('r-fb', 'fallback') === 5 && find('r-fb', 'excluded') === 3, JSON.stringify(d.decisions));
  const fb = d.decisions.find((x) => x.route === 'r-fb' && x.reason === 'fallback');
  check('RoutingDecisions: share within route and strategy', fb && Math.abs(fb.share - 5 / 8) < 1e-9,
    JSON.stringify(fb));
  check('RoutingDecisions: top reason is first_choice (92)',
    d.top_reasons[0].reason === 'first_choice' && d.top_reasons[0].count === 92,
    JSON.stringify(d.top_reasons));
  const fast = d.deployments.find((x) => x.provider === 'a' && x.model === 'fast');
  const broken = d.deployments.find((x) => x.provider === 'a' && x.model === 'broken');
  check('RoutingDecisions: a/fast picked 80 times, 5 fallbacks',
    fast && fast.picks === 80 && fast.fallbacks === 5, JSON.stringify(fast));
  check('RoutingDecisions: a/broken never picked, breaker opened once',
    broken && broken.picks === 0 && broken.breaker_opened === 1, JSON.stringify(broken));
  r = await call('RoutingDecisions', { since, route: 'r-slow' });
  check('RoutingDecisions: route filter', !r.err && r.resp.total_decisions === 20,
    r.err ? r.err.details : r.resp.total_decisions);

  r = await call('Quality', { since });
  if (r.err) throw new Error(`Quality: ${r.err.details}`);
  const q = Object.fromEntries(r.resp.models.map((x) => [`${x.provider}/${x.model}`, x]));
  check('Quality: every registered model with its score',
    q['a/fast'] && q['a/fast'].quality === 0.7 && q['b/slow'].quality === 0.9 && q['a/broken'],
    JSON.stringify(r.resp.models));
  check('Quality: success rates from the merged snapshots',
    q['a/fast'].success_rate === 1 && q['a/broken'].success_rate === 0 && q['a/fast'].attempts === 80,
    JSON.stringify(q['a/broken']));

  r = await call('Throughput', { since });
  if (r.err) throw new Error(`Throughput: ${r.err.details}`);
  const t = r.resp;
  const sum = t.points.reduce((n, p) => n + p.requests, 0);
  check('Throughput: 100 requests, points summing to it', t.total_requests === 100 && sum === 100,
    `${t.total_requests} ${sum}`);
  const secs = (t.until_unix_ms - t.since_unix_ms) / 1000;
  check('Throughput: average over the window', Math.abs(t.average_rps - 100 / secs) < 1e-9,
    t.average_rps);
  const peak = Math.max(...t.points.map((p) => p.requests_per_s));
  check('Throughput: peak is the busiest minute', t.peak_rps === peak && t.peak_rps > 0, t.peak_rps);

  r = await call('ProviderPerformance', { since, provider: 'nobody' });
  check('ProviderPerformance: an unknown provider has no rows', !r.err && r.resp.deployments.length === 0,
    r.err ? r.err.details : r.resp.deployments.length);
  r = await call('CostReport', { since: '2021-01-01T00:00:00Z', until: '2021-01-02T00:00:00Z', group_by: 'key' });
  check('CostReport: an empty window is empty, totals 0',
    !r.err && r.resp.groups.length === 0 && r.resp.total.requests === 0,
    r.err ? r.err.details : JSON.stringify(r.resp));
}

main().then(() => {
  client.close();
  process.exit(failed ? 1 : 0);
}, (e) => {
  console.log(`not ok - ${e.message}`);
  process.exit(1);
});
