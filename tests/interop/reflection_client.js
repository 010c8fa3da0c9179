// Reflection interop: grpc-js-reflection-client (a reflection client nobody
// here wrote) with @grpc/grpc-js asks a data plane what it serves, over both
// grpc.reflection.v1alpha and grpc.reflection.v1, builds the ChatService
// client from the descriptors it fetched (no .proto file is loaded) and calls
// Complete through a route to the simulator. Prints one "ok - " / "not ok - "
// line per check; exits 1 when any failed.
//
// Usage: node reflection_client.js --target HOST:PORT --key API_KEY
//                                  --sim-name NAME --route NAME
//        node reflection_client.js --target HOST:PORT --control-plane
// The second form checks a control plane: its services are listed and
// described, and the data plane's ChatService is not.
'use strict';

const grpc = require('@grpc/grpc-js');
const { GrpcReflection } = require('grpc-js-reflection-client');

function parseArgs(argv) {
  const names = { '--target': 'target', '--key': 'key', '--sim-name': 'sim', '--route': 'route' };
  const opts = {};
  for (let i = 2; i < argv.length; i++) {
    if (argv[i] === '--control-plane') {
      opts.controlPlane = true;
      continue;
    }
    const field = names[argv[i]];
    if (!field) throw new Error(`unknown argument '${argv[i]}'`);
    if (i + 1 >= argv.length) throw new Error(`${argv[i]}: missing value`);
    opts[field] = argv[++i];
  }
  const required = opts.controlPlane ? ['--target'] : Object.keys(names);
  for (const f of required) if (!opts[names[f]]) throw new Error(`${f}: required`);
  return opts;
}

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

function expectEq(actual, want, what) {
  if (actual !== want) {
    throw new Error(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(actual)}`);
  }
}

const deadline = () => ({ deadline: new Date(Date.now() + 10000) });

async function rejected(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Error('the request succeeded but must fail');
}

async function main() {
  const opts = parseArgs(process.argv);
  const creds = grpc.credentials.createInsecure();
  let passed = 0;
  let failed = 0;
  const run = async (name, fn) => {
    try {
      await fn();
      passed++;
      console.log(`ok - ${name}`);
    } catch (e) {
      failed++;
      console.log(`not ok - ${name}: ${e && e.message ? e.message : e}`);
    }
  };

  if (opts.controlPlane) {
    for (const version of ['v1alpha', 'v1']) {
      const refl = new GrpcReflection(opts.target, creds, {}, version);
      await run(`${version}: a control plane lists and describes its own services`, async () => {
        const services = await refl.listServices('*', deadline());
        for (const want of ['llmgw.v1.RegistryService', 'llmgw.v1.DistributionService',
          'grpc.health.v1.Health', `grpc.reflection.${version}.ServerReflection`]) {
          expect(services.includes(want), `services: no ${want} in ${JSON.stringify(services)}`);
        }
        expect(!services.includes('llmgw.v1.ChatService'),
          `services: ChatService listed on a control plane: ${JSON.stringify(services)}`);
        const methods = (await refl.listMethods('llmgw.v1.RegistryService', deadline())).map((m) => m.name);
        expect(methods.includes('CreateProvider'), `RegistryService methods: ${JSON.stringify(methods)}`);
      });
    }
    console.log(`# ${passed} passed, ${failed} failed`);
    process.exit(failed === 0 ? 0 : 1);
  }

  for (const version of ['v1alpha', 'v1']) {
    const refl = new GrpcReflection(opts.target, creds, {}, version);

    await run(`${version}: list services names what the server registered`, async () => {
      const services = await refl.listServices('*', deadline());
      for (const want of ['llmgw.v1.ChatService', 'llmgw.v1.RoutingService',
        'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection',
        'grpc.reflection.v1alpha.ServerReflection']) {
        expect(services.includes(want), `services: no ${want} in ${JSON.stringify(services)}`);
      }
      // The data plane does not serve the control plane's services.
      expect(!services.includes('llmgw.v1.RegistryService'),
        `services: RegistryService listed on a data plane: ${JSON.stringify(services)}`);
    });

    await run(`${version}: list methods of ChatService from its descriptor`, async () => {
      const methods = (await refl.listMethods('llmgw.v1.ChatService', deadline())).map((m) => m.name);
      for (const want of ['Complete', 'Stream', 'ListModels', 'Ensemble']) {
        expect(methods.includes(want), `methods: no ${want} in ${JSON.stringify(methods)}`);
      }
    });

    await run(`${version}: file by filename brings its imports`, async () => {
      // routing.proto imports chat.proto: ChatRequest (used by Explain) is
      // there only when the import came with it.
      const d = await refl.getDescriptorByFileName('llmgw/v1/routing.proto', deadline());
      const v1 = d.getPackageObject({ keepCase: true }).llmgw.v1;
      expect(v1.RoutingService && v1.RoutingService.service, 'llmgw.v1.RoutingService: missing');
      expect(v1.ChatRequest, 'llmgw.v1.ChatRequest (imported from chat.proto): missing');
    });

    await run(`${version}: methods and enums are symbols too`, async () => {
      for (const sym of ['llmgw.v1.ChatService.Complete', 'llmgw.v1.EnsembleMethod']) {
        const d = await refl.getDescriptorBySymbol(sym, deadline());
        expect(d.getPackageObject({ keepCase: true }).llmgw.v1.ChatService, `${sym}: no ChatService beside it`);
      }
    });

    await run(`${version}: an unknown symbol is NOT_FOUND`, async () => {
      const e = await rejected(refl.getDescriptorBySymbol('llmgw.v1.NoSuchService', deadline()));
      expect(String(e.message).includes('not found'), `error: ${e.message}`);
    });

    await run(`${version}: an unknown file is NOT_FOUND`, async () => {
      const e = await rejected(refl.getDescriptorByFileName('no/such.proto', deadline()));
      expect(String(e.message).includes('not found'), `error: ${e.message}`);
    });

    await run(`${version}: Complete through a client built from reflection only`, async () => {
      const d = await refl.getDescriptorBySymbol('llmgw.v1.ChatService', deadline());
      const pkg = d.getPackageObject({ keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
      const chat = new pkg.llmgw.v1.ChatService(opts.target, creds);
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${opts.key}`);
      const prompt = `hello over ${version} reflection`;
      const r = await new Promise((resolve, reject) => {
        chat.Complete({ model: opts.route, messages: [{ role: 'user', content: prompt }] }, md,
          deadline(), (err, resp) => (err ? reject(err) : resolve(resp)));
      });
      chat.close();
      expectEq(r.choices[0].message.content, `[${opts.sim}] ${prompt}`, 'choices[0].message.content');
      expectEq(r.provider, opts.sim, 'provider');
      expectEq(r.route.route, opts.route, 'route.route');
    });
  }

  console.log(`# ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((e) => {
  console.log(`not ok - reflection_client: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
