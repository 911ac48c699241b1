// swapmoe serve driven by the official OpenAI client for Node: chat and text completions, whole
// and streamed, usage, stop strings, the error classes the client raises for bad requests, and a
// budget change while several streams run. SWAPMOE_URL names a server running the full model
// (…/v1): its greedy and seeded replies repeat exactly. SWAPMOE_BUDGET_URL names one running
// under a budget, whose resident experts (and so its text) depend on what it served before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const baseURL = process.env.SWAPMOE_URL;
assert.ok(baseURL, 'set SWAPMOE_URL to the server, e.g. http://127.0.0.1:8080/v1');
const root = baseURL.replace(/\/v1$/, '');
const client = new OpenAI({ baseURL, apiKey: process.env.SWAPMOE_API_KEY ?? 'none', maxRetries: 0, timeout: 120_000 });
const budgetURL = process.env.SWAPMOE_BUDGET_URL;
assert.ok(budgetURL, 'set SWAPMOE_BUDGET_URL to a server started with --memory-budget');
const budgetRoot = budgetURL.replace(/\/v1$/, '');
const budgetClient = new OpenAI({ baseURL: budgetURL, apiKey: 'none', maxRetries: 0, timeout: 120_000 });

async function modelId() {
  const page = await client.models.list();
  assert.equal(page.data.length, 1);
  return page.data[0].id;
}

test('models lists the served model', async () => {
  const id = await modelId();
  assert.match(id, /\.gguf$|./);
});

test('chat completion: a reply, a finish reason and usage', async () => {
  const r = await client.chat.completions.create({
    model: await modelId(),
    messages: [{ role: 'system', content: 'You are a player.' }, { role: 'user', content: 'Speak, friend.' }],
    max_tokens: 16,
    temperature: 0,
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens > 0);
  assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 16);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

test('chat streaming gives the same text as the whole reply', async () => {
  const request = { messages: [{ role: 'user', content: 'ROMEO:' }], max_tokens: 24, temperature: 0 };
  const whole = await client.chat.completions.create(request);
  const stream = await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
  let text = '', finish = null, usage = null, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta?.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.ok(chunks > 3, `only ${chunks} chunks`);
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.equal(usage.completion_tokens, whole.usage.completion_tokens);
});

test('text completion, whole and streamed, with a seed and a stop string', async () => {
  const r = await client.completions.create({ model: await modelId(), prompt: 'JULIET:\n', max_tokens: 20, temperature: 0.8, seed: 42 });
  const again = await client.completions.create({ prompt: 'JULIET:\n', max_tokens: 20, temperature: 0.8, seed: 42 });
  assert.equal(r.choices[0].text, again.choices[0].text, 'the same seed samples the same text');
  const stream = await client.completions.create({ prompt: 'JULIET:\n', max_tokens: 20, temperature: 0.8, seed: 42, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  assert.equal(text, r.choices[0].text);
  // Stop before the first newline of the reply when there is one.
  const cut = r.choices[0].text.indexOf('\n');
  if (cut > 0) {
    const stopped = await client.completions.create({ prompt: 'JULIET:\n', max_tokens: 20, temperature: 0.8, seed: 42, stop: ['\n'] });
    assert.equal(stopped.choices[0].text, r.choices[0].text.slice(0, cut));
    assert.equal(stopped.choices[0].finish_reason, 'stop');
  }
});

test('bad requests raise the client\'s error classes', async () => {
  await assert.rejects(client.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], max_tokens: 0 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'max_tokens');
  await assert.rejects(client.chat.completions.create({ messages: 'hello' }),
    (e) => e instanceof OpenAI.BadRequestError && /messages/.test(e.message));
  await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
  await assert.rejects(client.completions.create({ prompt: 'ROMEO: '.repeat(5000), max_tokens: 4 }),
    (e) => e instanceof OpenAI.BadRequestError && e.code === 'context_length_exceeded');
  await assert.rejects(client.completions.create({ prompt: 'x', temperature: 'warm' }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'temperature');
  const health = await fetch(`${root}/health`);
  assert.equal(health.status, 200, 'the server still serves');
});

test('a budget change while four clients stream: none fails', async () => {
  const memory = async () => (await fetch(`${budgetRoot}/v1/memory`)).json();
  const setBudget = async (budget) => {
    const r = await fetch(`${budgetRoot}/v1/memory`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ budget }) });
    return { status: r.status, body: await r.json() };
  };
  const before = await memory();
  assert.ok(before.budget_bytes > 0, 'the budget server runs under a budget');
  const streams = [0, 1, 2, 3].map(async (i) => {
    const s = await budgetClient.chat.completions.create({ messages: [{ role: 'user', content: `Speak ${i}` }], max_tokens: 60, stream: true });
    let n = 0;
    for await (const chunk of s) n += chunk.choices[0]?.delta?.content ? 1 : 0;
    return n;
  });
  await new Promise((r) => setTimeout(r, 200));
  const lower = await setBudget('75%');
  assert.equal(lower.status, 200, JSON.stringify(lower.body));
  assert.ok(lower.body.accounted_bytes <= lower.body.budget_bytes);
  assert.ok(lower.body.budget_bytes < before.budget_bytes);
  const higher = await setBudget('100%');
  assert.equal(higher.status, 200);
  assert.ok(higher.body.slots_per_layer[0] > lower.body.slots_per_layer[0]);
  const counts = await Promise.all(streams);
  for (const n of counts) assert.ok(n > 0);
  const refused = await setBudget('1M');
  assert.equal(refused.status, 422);
  assert.ok(refused.body.error.minimum_budget_bytes > 1 << 20);
});

test('metrics in Prometheus text', async () => {
  const text = await (await fetch(`${budgetRoot}/metrics`)).text();
  for (const name of ['swapmoe_requests_total', 'swapmoe_tokens_generated_total', 'swapmoe_memory_budget_bytes',
    'swapmoe_expert_hit_rate', 'swapmoe_time_to_first_token_seconds_bucket', 'swapmoe_inter_token_latency_seconds_bucket'])
    assert.ok(text.includes(name), `${name} missing from /metrics`);
});
