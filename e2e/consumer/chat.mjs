// End-to-end consumer: the official `openai` SDK talks to the local PIN gateway's
// OpenAI-compatible API, which relays through pin-clientd to a real Ollama serving the
// generated `tiny` model (it always answers " hello hello ...").
//
// Env: BASE_URL (the gateway's consumerUrl, e.g. http://127.0.0.1:PORT/v1, required),
//      API_KEY (consumer key if the gateway wants one; default "e2e"),
//      MODEL (default "tiny"), TOOLS_MODEL (a model that always calls get_time; empty
//      skips the tool checks), LABEL (prefix for the output lines).
// Prints one PASS/FAIL line per check; exits 1 if any check fails. No retries: a
// failure must show.
import OpenAI from "openai";

const baseURL = process.env.BASE_URL;
if (!baseURL) {
  console.error("chat.mjs: BASE_URL is not set (the gateway's consumerUrl, e.g. http://127.0.0.1:8080/v1)");
  process.exit(2);
}
let model = process.env.MODEL || "tiny";
let toolsModel = process.env.TOOLS_MODEL || "";
const label = process.env.LABEL ? `[${process.env.LABEL}] ` : "";
const client = new OpenAI({ baseURL, apiKey: process.env.API_KEY || "e2e", maxRetries: 0, timeout: 60_000 });

let failures = 0;
async function check(name, fn) {
  const t0 = performance.now();
  try {
    const note = await fn();
    console.log(`${label}PASS ${name} (${(performance.now() - t0).toFixed(0)} ms)${note ? ": " + note : ""}`);
  } catch (err) {
    failures++;
    console.log(`${label}FAIL ${name} (${(performance.now() - t0).toFixed(0)} ms): ${err?.message ?? err}`);
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
// A fresh prompt per request, so Ollama's prompt cache cannot zero the usage.
let n = 0;
const messages = () => [{ role: "user", content: `Say hello. (request ${++n}, ${Date.now()})` }];

function checkUsage(usage) {
  assert(usage, "no usage in the response");
  const { prompt_tokens: p, completion_tokens: c, total_tokens: t } = usage;
  assert(Number.isInteger(c) && c > 0, `usage.completion_tokens = ${c}, want > 0`);
  assert(Number.isInteger(p) && p >= 0, `usage.prompt_tokens = ${p}, want an integer`);
  assert(t === p + c, `usage.total_tokens = ${t}, want prompt + completion = ${p + c}`);
  return `usage ${p}+${c}`;
}

const tools = [{
  type: "function",
  function: {
    name: "get_time",
    description: "Current time in a time zone",
    parameters: { type: "object", properties: { tz: { type: "string" } }, required: ["tz"] },
  },
}];
// Ollama-mode nodes forward Ollama's tool calls unchanged (arguments as an object);
// OpenAI-mode nodes give the OpenAI form (arguments as a JSON string). Accept both.
function checkToolCall(calls) {
  assert(Array.isArray(calls) && calls.length > 0, `no tool_calls (got ${JSON.stringify(calls)})`);
  const fn = calls[0].function ?? {};
  assert(fn.name === "get_time", `tool_calls[0].function.name = ${JSON.stringify(fn.name)}, want "get_time"`);
  const args = typeof fn.arguments === "string" ? JSON.parse(fn.arguments) : fn.arguments;
  assert(args?.tz === "UTC", `tool_calls[0].function.arguments = ${JSON.stringify(fn.arguments)}, want tz UTC`);
  return `get_time(${JSON.stringify(args)})`;
}

// Ollama names models "tiny:latest"; a consumer asks for what /models lists, so accept
// the bare name or its ":latest" form and use whichever is listed.
await check("models list", async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  const pick = (name) => (ids.includes(name) ? name : ids.includes(`${name}:latest`) ? `${name}:latest` : null);
  const m = pick(model);
  assert(m, `model ${model} not in /models: ${JSON.stringify(ids)}`);
  model = m;
  if (toolsModel) {
    const t = pick(toolsModel);
    assert(t, `model ${toolsModel} not in /models: ${JSON.stringify(ids)}`);
    toolsModel = t;
  }
  return ids.join(",");
});

await check("chat non-streaming", async () => {
  const r = await client.chat.completions.create({ model, messages: messages() });
  const text = r.choices?.[0]?.message?.content ?? "";
  assert(/hello/i.test(text), `answer ${JSON.stringify(text)} does not contain "hello"`);
  assert(r.choices[0].finish_reason, "no finish_reason");
  return `${JSON.stringify(text.trim())}, ${checkUsage(r.usage)}`;
});

await check("chat streaming", async () => {
  const stream = await client.chat.completions.create({
    model, messages: messages(), stream: true, stream_options: { include_usage: true },
  });
  let text = "", chunks = 0, usage = null, finish = null;
  for await (const chunk of stream) {
    const c = chunk.choices?.[0];
    if (c?.delta?.content) { text += c.delta.content; chunks++; }
    if (c?.finish_reason) finish = c.finish_reason;
    if (chunk.usage) usage = chunk.usage;
  }
  assert(/hello/i.test(text), `streamed answer ${JSON.stringify(text)} does not contain "hello"`);
  assert(chunks >= 2, `only ${chunks} content chunk(s): the answer was not streamed`);
  assert(finish, "no finish_reason in any chunk");
  return `${chunks} chunks, ${checkUsage(usage)}`;
});

if (toolsModel) {
  await check("tool call non-streaming", async () => {
    const r = await client.chat.completions.create({
      model: toolsModel, messages: [{ role: "user", content: "What time is it in UTC?" }], tools,
    });
    return checkToolCall(r.choices?.[0]?.message?.tool_calls);
  });

  await check("tool call streaming", async () => {
    const stream = await client.chat.completions.create({
      model: toolsModel, messages: [{ role: "user", content: "What time is it in UTC? Stream." }],
      tools, stream: true,
    });
    // Merge fragments the way the SDK's docs describe: by index, name set, arguments appended.
    const calls = [];
    for await (const chunk of stream) {
      for (const f of chunk.choices?.[0]?.delta?.tool_calls ?? []) {
        const i = f.index ?? 0;
        calls[i] ??= { function: { name: "", arguments: "" } };
        if (f.function?.name) calls[i].function.name = f.function.name;
        const a = f.function?.arguments;
        if (a !== undefined) {
          calls[i].function.arguments = typeof a === "string" ? calls[i].function.arguments + a : a;
        }
      }
    }
    return checkToolCall(calls.filter(Boolean));
  });
}

process.exit(failures ? 1 : 0);
