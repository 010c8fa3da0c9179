#!/usr/bin/env node
// audit_rpc: AuditService over grpc-js (a client nobody here wrote), for
// test_audit.sh — what the llmgw CLI cannot send: out-of-range limits, row
// ids and instants, each INVALID_ARGUMENT naming the field; and paging by
// before_id / after_id that visits every row exactly once, in order.
//
// usage: NODE_PATH=tests/interop/node_modules node audit_rpc.js TARGET TOKEN PROTO_DIR ROWS
// Prints "ok - …" / "not ok - …" per check; exit 1 when any failed.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [target, token, protoDir, rowsArg] = process.argv.slice(2);
const def = protoLoader.loadSync(path.join(protoDir, 'llmgw/v1/audit.proto'), {
  keepCase: true, longs: Number, defaults: true, includeDirs: [protoDir],
});
const Audit = grpc.loadPackageDefinition(def).llmgw.v1.AuditService;
const client = new Audit(target, grpc.credentials.createInsecure());
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

async function pages(method, cursorIn, cursorOut, limit) {
  const ids = [];
  let cursor = 0;
  for (let i = 0; i < 1000; i++) {
    const { err, resp } = await call(method, { limit, [cursorIn]: cursor });
    if (err) throw new Error(`${method}: ${err.details}`);
    if (resp.rows.length > limit) throw new Error(`${method}: ${resp.rows.length} rows > limit`);
    ids.push(...resp.rows.map((r) => r.id));
    cursor = resp[cursorOut];
    if (!cursor) return ids;
  }
  throw new Error(`${method}: paging never ended`);
}

(async () => {
  await refused('ListAudit', { limit: -1 }, 'limit: expected 1..1000 (0 for 100), got -1');
  await refused('ListAudit', { limit: 1001 }, 'limit: expected 1..1000');
  await refused('ListAudit', { before_id: -3 }, 'before_id: expected a row id >= 0, got -3');
  await refused('ExportAudit', { limit: 5001 }, 'limit: expected 1..5000 (0 for 1000), got 5001');
  await refused('ExportAudit', { after_id: -1 }, 'after_id: expected a row id >= 0');
  await refused('ListAudit', { filter: { since_unix_ms: -5 } },
    'filter.since_unix_ms: expected Unix milliseconds in 0..253402300799999, got -5');
  await refused('ExportAudit', { filter: { until_unix_ms: 253402300800000 } },
    'filter.until_unix_ms: expected Unix milliseconds');
  await refused('ExportAudit', { filter: { since_unix_ms: 2000, until_unix_ms: 1000 } },
    'filter.until_unix_ms: must be after filter.since_unix_ms');

  const n = Number(rowsArg);
  const want = Array.from({ length: n }, (_, i) => i + 1);
  try {
    const down = await pages('ListAudit', 'before_id', 'next_before_id', 2);
    check('ListAudit pages of 2 visit every row once, newest first',
      JSON.stringify(down) === JSON.stringify([...want].reverse()), JSON.stringify(down));
    const up = await pages('ExportAudit', 'after_id', 'next_after_id', 3);
    check('ExportAudit pages of 3 visit every row once, in chain order',
      JSON.stringify(up) === JSON.stringify(want), JSON.stringify(up));
  } catch (e) {
    check('paging', false, e.message);
  }
  const { resp } = await call('ListAudit', { limit: 1 });
  check('ListAudit never sets prev_hash', resp && resp.rows[0].prev_hash === '', JSON.stringify(resp));
  const v = await call('VerifyAudit', {});
  check('VerifyAudit answers ok with the rows checked',
    v.resp && v.resp.ok && v.resp.rows_checked === n && v.resp.first_bad_id === 0 &&
    v.resp.message === 'audit log intact', JSON.stringify(v.resp || v.err));
  client.close();
  process.exit(failed ? 1 : 0);
})();
