// The official OpenAI Node.js SDK against llmgw's HTTP API: an OpenAI
// program that only changed its base URL. Checks chat, streaming with the
// final usage chunk, legacy completions (JSON and streamed), provider fields
// (system_fingerprint), embeddings, the models list, an invalid key
// (AuthenticationError) and a rate-limited provider (RateLimitError).
// Prints one line per check; exits 1 when any fails.
"use strict";

const OpenAI = require("openai").default ?? require("openai");

function arg(name) {
    const i = process.argv.indexOf("--" + name);
    if (i < 0 || i + 1 >= process.argv.length) {
        console.error(`openai_client: --${name} is required`);
        process.exit(2);
    }
    return process.argv[i + 1];
}

const baseURL = arg("base-url");
const key = arg("key");
const route = arg("route");
const simName = arg("sim-name");
const limitedModel = arg("limited-model");

const client = new OpenAI({ baseURL, apiKey: key, maxRetries: 0, timeout: 20000 });
let failures = 0;

async function check(name, fn) {
    try {
        await fn();
        console.log(`ok   ${name}`);
    } catch (e) {
        failures++;
        console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
    }
}

function expect(cond, what) {
    if (!cond) throw new Error(what);
}

async function main() {
    await check("chat completion", async () => {
        const r = await client.chat.completions.create({
            model: route,
            messages: [{ role: "user", content: "hello from the sdk" }],
        });
        expect(r.object === "chat.completion", `object is ${r.object}`);
        const text = r.choices[0].message.content;
        expect(text === `[${simName}] hello from the sdk`, `content is ${JSON.stringify(text)}`);
        expect(r.usage && r.usage.total_tokens > 0, "no usage");
    });

    await check("chat completion with raw headers", async () => {
        const { response } = await client.chat.completions
            .create({ model: route, messages: [{ role: "user", content: "hi" }] })
            .withResponse();
        expect(response.headers.get("x-llmgw-provider") === simName, "x-llmgw-provider");
        expect(Number(response.headers.get("x-llmgw-attempts")) >= 1, "x-llmgw-attempts");
        expect(response.headers.get("x-llmgw-cost-usd") !== null, "x-llmgw-cost-usd");
    });

    await check("streaming with final usage", async () => {
        const stream = await client.chat.completions.create({
            model: route,
            messages: [{ role: "user", content: "stream these words" }],
            stream: true,
            stream_options: { include_usage: true },
        });
        let text = "";
        let usage = null;
        let chunks = 0;
        for await (const chunk of stream) {
            chunks++;
            expect(chunk.object === "chat.completion.chunk", `object is ${chunk.object}`);
            if (chunk.choices.length) text += chunk.choices[0].delta.content ?? "";
            if (chunk.usage) usage = chunk.usage;
        }
        expect(chunks >= 2, `only ${chunks} chunks`);
        expect(text === `[${simName}] stream these words`, `streamed ${JSON.stringify(text)}`);
        expect(usage && usage.completion_tokens > 0, "no final usage chunk");
    });

    await check("chat completion keeps the provider's system_fingerprint", async () => {
        const r = await client.chat.completions.create({
            model: route,
            messages: [{ role: "user", content: "fingerprint" }],
        });
        expect(r.system_fingerprint === "sim", `system_fingerprint is ${r.system_fingerprint}`);
    });

    await check("legacy completion", async () => {
        const r = await client.completions.create({ model: route, prompt: "complete this", max_tokens: 16 });
        expect(r.object === "text_completion", `object is ${r.object}`);
        const text = r.choices[0].text;
        expect(text === `[${simName}] complete this`, `text is ${JSON.stringify(text)}`);
        expect(r.usage && r.usage.completion_tokens === 3, "no usage");
    });

    await check("legacy completion streaming with final usage", async () => {
        const stream = await client.completions.create({
            model: route,
            prompt: "stream the completion",
            stream: true,
            stream_options: { include_usage: true },
        });
        let text = "";
        let usage = null;
        for await (const chunk of stream) {
            expect(chunk.object === "text_completion", `object is ${chunk.object}`);
            if (chunk.choices.length) text += chunk.choices[0].text ?? "";
            if (chunk.usage) usage = chunk.usage;
        }
        expect(text === `[${simName}] stream the completion`, `streamed ${JSON.stringify(text)}`);
        expect(usage && usage.completion_tokens === 4, "no final usage chunk");
    });

    await check("embeddings", async () => {
        const r = await client.embeddings.create({
            model: `${simName}/text-embedding-3-small`,
            input: ["one", "two"],
        });
        expect(r.data.length === 2, `data has ${r.data.length} items`);
        expect(r.data[0].embedding.length > 0, "empty embedding");
    });

    await check("models list", async () => {
        const ids = [];
        for await (const m of client.models.list()) ids.push(m.id);
        expect(ids.includes(route), `no ${route} in ${ids}`);
        expect(ids.includes(`${simName}/gpt-4o-mini`), `no ${simName}/gpt-4o-mini in ${ids}`);
        const one = await client.models.retrieve(route);
        expect(one.id === route, `retrieve gave ${one.id}`);
    });

    await check("invalid key raises AuthenticationError", async () => {
        const bad = new OpenAI({ baseURL, apiKey: "sk-not-a-key", maxRetries: 0 });
        try {
            await bad.chat.completions.create({ model: route, messages: [{ role: "user", content: "x" }] });
        } catch (e) {
            expect(e instanceof OpenAI.AuthenticationError, `got ${e && e.constructor && e.constructor.name}`);
            expect(e.status === 401, `status ${e.status}`);
            return;
        }
        throw new Error("no error raised");
    });

    await check("429 raises RateLimitError", async () => {
        try {
            await client.chat.completions.create({
                model: limitedModel,
                messages: [{ role: "user", content: "x" }],
            });
        } catch (e) {
            expect(e instanceof OpenAI.RateLimitError, `got ${e && e.constructor && e.constructor.name}`);
            expect(e.status === 429, `status ${e.status}`);
            return;
        }
        throw new Error("no error raised");
    });

    await check("unknown model raises NotFoundError", async () => {
        try {
            await client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] });
        } catch (e) {
            expect(e instanceof OpenAI.NotFoundError, `got ${e && e.constructor && e.constructor.name}`);
            return;
        }
        throw new Error("no error raised");
    });

    if (failures) {
        console.log(`${failures} check(s) failed`);
        process.exit(1);
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
