#include "runtime/generation.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "core/timer.h"
#include "runtime/session.h"
#include "tokenizer/streaming_detokenizer.h"

namespace swapmoe {

double GenerationResult::prompt_tokens_per_s() const {
  return prompt_seconds > 0 ? static_cast<double>(prompt_tokens.size()) / prompt_seconds : 0;
}

double GenerationResult::gen_tokens_per_s() const {
  return gen_seconds > 0 ? static_cast<double>(token_ms.size()) / gen_seconds : 0;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double idx = p / 100.0 * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(idx);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (idx - static_cast<double>(lo));
}

GenerationResult generate(Engine& engine, const std::string& prompt, int n_predict, const SamplerParams& sampling,
                          const std::function<void(std::string_view)>& on_text) {
  const Tokenizer& tok = engine.tokenizer();
  Session session(engine, sampling);
  GenerationResult r;
  r.prompt_tokens = tok.encode(prompt, tok.add_bos());
  if (r.prompt_tokens.empty()) r.prompt_tokens.push_back(tok.bos_id());
  const int64_t n_prompt = static_cast<int64_t>(r.prompt_tokens.size());
  if (n_prompt >= session.n_ctx())
    fail("generate", fmt::format("the prompt has {} tokens but the context holds {}", n_prompt, session.n_ctx()),
         "raise the context size with -c or shorten the prompt");

  Timer timer;
  session.prefill(r.prompt_tokens);
  r.prompt_seconds = timer.seconds();

  StreamingDetokenizer detok(tok, StreamStart::CONTINUATION);
  r.stop_reason = "limit";
  for (int i = 0; i < n_predict; ++i) {
    const int32_t next = session.sample();
    if (tok.is_eog(next)) {
      r.stop_reason = "eos";
      break;
    }
    r.tokens.push_back(next);
    std::string piece = detok.push(next);
    if (!piece.empty()) {
      r.text += piece;
      if (on_text) on_text(piece);
    }
    if (i + 1 == n_predict) break;  // the last token needs no forward pass
    if (session.pos() >= session.n_ctx()) {
      r.stop_reason = "context";
      break;
    }
    Timer step;
    session.step(next);
    r.token_ms.push_back(step.seconds() * 1e3);
  }
  // gen_seconds covers the decode steps only, so that tokens/s is steps per second.
  for (double ms : r.token_ms) r.gen_seconds += ms / 1e3;
  std::string tail = detok.flush();
  if (!tail.empty()) {
    r.text += tail;
    if (on_text) on_text(tail);
  }
  return r;
}

}  // namespace swapmoe
