// Load on a running `swapmoe serve`: C clients, each sending one streamed completion after
// another for S seconds (no npm packages: Node's fetch). Reports requests, errors, latency
// percentiles (whole request and time to first token) and the aggregate tokens generated per
// second, as one JSON line on stdout.
//
// --no-stream asks for whole replies instead and counts their usage: the client then parses one
// JSON body a request, not one event a token. (On a 2-core machine a streaming Node client
// spends about 90 us of CPU a token, as much as the server's decode of a small model: the
// streamed figure measures the client as much as the server.)
//
// --prompt-file PATH: each request's prompt is a slice of --prompt-chars characters (default 400)
// of that file at a random offset, so prompts differ and each costs its full prefill (a shared
// prompt is mostly served from the sequences' prompt caches).
//
//   node bench/server/load.mjs URL [--clients 8] [--seconds 60] [--max-tokens 64] [--prompt TEXT]
//                              [--prompt-file PATH [--prompt-chars 400]] [--no-stream]
const args = process.argv.slice(2);
const url = args[0];
if (!url || url.startsWith('--')) {
  console.error('usage: node load.mjs URL [--clients N] [--seconds S] [--max-tokens N] [--prompt TEXT] [--prompt-file PATH [--prompt-chars N]] [--no-stream]');
  process.exit(2);
}
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const clients = Number(option('--clients', 8));
const seconds = Number(option('--seconds', 60));
const maxTokens = Number(option('--max-tokens', 64));
const prompt = option('--prompt', 'ROMEO:');
const promptFile = option('--prompt-file', null);
const promptChars = Number(option('--prompt-chars', 400));
const promptText = promptFile ? (await import('node:fs')).readFileSync(promptFile, 'utf8') : null;
if (promptText !== null && promptText.length <= promptChars) {
  console.error(`--prompt-file: ${promptFile} holds ${promptText.length} characters, not more than --prompt-chars ${promptChars}`);
  process.exit(2);
}
const promptFor = (i) => {
  if (promptText === null) return `${prompt} ${i}`;
  const at = Math.floor(Math.random() * (promptText.length - promptChars));
  return promptText.slice(at, at + promptChars);
};
const stream = !args.includes('--no-stream');

const latencies = [], firsts = [];
let requests = 0, errors = 0, tokens = 0;
const errorSamples = [];

async function one(i) {
  const start = performance.now();
  let first = null, n = 0, done = false;
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt: promptFor(i), max_tokens: maxTokens, stream, temperature: 0.8 }),
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  if (!stream) {
    const j = await res.json();
    if (!j.usage || typeof j.usage.completion_tokens !== 'number') throw new Error('a reply without usage');
    latencies.push(performance.now() - start);
    return j.usage.completion_tokens;
  }
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!event.startsWith('data: ')) continue;
      const data = event.slice(6);
      if (data === '[DONE]') { done = true; continue; }
      const j = JSON.parse(data);
      if (j.error) throw new Error(j.error.message);
      if (j.choices?.[0]?.text) {
        if (first === null) first = performance.now();
        n++;
      }
    }
  }
  if (!done) throw new Error('the stream ended without [DONE]');
  latencies.push(performance.now() - start);
  if (first !== null) firsts.push(first - start);
  // Usage counts tokens, chunks count text pieces; both are close, tokens is the usage figure.
  return n;
}

async function client(id, deadline) {
  let i = 0;
  while (performance.now() < deadline) {
    requests++;
    try {
      const n = await one(id * 100000 + i++);  // not `tokens += await`: that reads tokens before awaiting
      tokens += n;
    } catch (e) {
      errors++;
      if (errorSamples.length < 5) errorSamples.push(String(e.message ?? e));
    }
  }
}

const pct = (v, p) => {
  if (!v.length) return 0;
  const s = [...v].sort((a, b) => a - b);
  const idx = (p / 100) * (s.length - 1), lo = Math.floor(idx), hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (idx - lo);
};

const t0 = performance.now();
await Promise.all(Array.from({ length: clients }, (_, id) => client(id, t0 + seconds * 1000)));
const elapsed = (performance.now() - t0) / 1000;
const result = {
  clients, seconds: elapsed, max_tokens: maxTokens, stream, prompt_chars: promptText === null ? null : promptChars,
  requests, errors, tokens,
  tokens_per_s: tokens / elapsed,
  latency_p50_ms: pct(latencies, 50), latency_p99_ms: pct(latencies, 99),
  ttft_p50_ms: stream ? pct(firsts, 50) : null, ttft_p99_ms: stream ? pct(firsts, 99) : null,  // whole replies: no first token
  error_samples: errorSamples,
};
console.log(JSON.stringify(result));
process.exit(errors ? 1 : 0);
