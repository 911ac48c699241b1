#include "runtime/perplexity.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"
#include "core/timer.h"
#include "runtime/session.h"

namespace swapmoe {

PerplexityResult perplexity(Engine& engine, const std::string& text, int64_t n_ctx,
                            const std::function<void(int64_t, int64_t, double)>& progress, int64_t max_chunks) {
  const Tokenizer& tok = engine.tokenizer();
  Session session(engine);
  if (n_ctx > session.n_ctx())
    fail("perplexity", fmt::format("chunk size {} exceeds the engine's context {}", n_ctx, session.n_ctx()),
         "create the engine with the same -c");
  if (n_ctx < 4) fail("perplexity", fmt::format("context {} is too small", n_ctx), "use -c 16 or more");
  std::vector<int32_t> tokens = tok.encode(text, tok.add_bos());
  PerplexityResult r;
  r.n_tokens = static_cast<int64_t>(tokens.size());
  if (r.n_tokens < 2 * n_ctx)
    fail("perplexity", fmt::format("the text has {} tokens, fewer than 2 * context = {}", r.n_tokens, 2 * n_ctx),
         "use a longer text or a smaller -c");
  r.n_chunks = r.n_tokens / n_ctx;
  if (max_chunks == 0) fail("perplexity", "--chunks 0 scores nothing", "pass --chunks N with N > 0, or -1 for all");
  if (max_chunks > 0 && max_chunks < r.n_chunks) r.n_chunks = max_chunks;

  const int64_t n_vocab = engine.model().config().n_vocab;
  const int64_t first = n_ctx / 2;
  // Logits are scored one micro-batch at a time, so only that many are ever held.
  std::vector<int32_t> chunk(n_ctx);
  double nll_sum = 0;
  Timer timer;
  for (int64_t c = 0; c < r.n_chunks; ++c) {
    std::copy(tokens.begin() + c * n_ctx, tokens.begin() + (c + 1) * n_ctx, chunk.begin());
    if (tok.add_bos()) chunk[0] = tok.bos_id();
    session.reset();
    session.evaluate_all(chunk, [&](int64_t p, int64_t m, const float* logits) {
      for (int64_t i = 0; i < m; ++i) {
        const int64_t j = p + i;
        if (j < first || j >= n_ctx - 1) continue;
        const float* l = &logits[i * n_vocab];
        float max = l[0];
        for (int64_t v = 1; v < n_vocab; ++v) max = l[v] > max ? l[v] : max;
        double sum = 0;
        for (int64_t v = 0; v < n_vocab; ++v) sum += std::exp(static_cast<double>(l[v]) - max);
        const int32_t target = tokens[c * n_ctx + j + 1];
        nll_sum += -(static_cast<double>(l[target]) - max - std::log(sum));
        ++r.n_scored;
      }
    });
    r.chunk_ppl.push_back(std::exp(nll_sum / static_cast<double>(r.n_scored)));
    if (progress) progress(c, r.n_chunks, r.chunk_ppl.back());
  }
  r.seconds = timer.seconds();
  r.nll = nll_sum / static_cast<double>(r.n_scored);
  r.ppl = std::exp(r.nll);
  return r;
}

}  // namespace swapmoe
