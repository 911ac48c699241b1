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

void check_fits_context(const Session& session, int64_t n_tokens) {
  if (session.pos() + n_tokens >= session.n_ctx())
    fail("generate",
         session.pos() == 0
             ? fmt::format("the prompt has {} tokens but the context holds {}", n_tokens, session.n_ctx())
             : fmt::format("this turn has {} tokens but only {} of the context's {} are left", n_tokens,
                           session.n_ctx() - session.pos(), session.n_ctx()),
         "raise the context size with -c or shorten the prompt");
}

GenerationResult generate_turn(Session& session, std::vector<int32_t> input, int32_t pending,
                               const GenerationSettings& settings, const std::function<void(std::string_view)>& on_text) {
  const Tokenizer& tok = session.engine().tokenizer();
  GenerationResult r;
  if (pending >= 0) input.insert(input.begin(), pending);
  if (input.empty() && session.pos() == 0) input.push_back(tok.bos_id());
  if (input.empty()) fail("generate", "nothing to evaluate", "give a prompt or some text");
  check_fits_context(session, static_cast<int64_t>(input.size()));
  r.prompt_tokens = std::move(input);

  Timer timer;
  session.prefill(r.prompt_tokens);
  r.prompt_seconds = timer.seconds();

  StreamingDetokenizer detok(tok, StreamStart::CONTINUATION);
  StopStrings stops(settings.stops);
  auto show = [&](const std::string& text) {
    if (text.empty()) return;
    r.text += text;
    if (on_text) on_text(text);
  };
  std::vector<int32_t> banned;
  if (settings.ignore_eos)
    for (int32_t id = 0; id < tok.n_vocab(); ++id)
      if (tok.is_eog(id)) banned.push_back(id);
  r.stop_reason = "limit";
  for (int i = 0; settings.n_predict < 0 || i < settings.n_predict; ++i) {
    if (settings.interrupt && settings.interrupt->load()) {
      r.stop_reason = "interrupted";
      break;
    }
    const int32_t next = session.sample(banned);
    if (tok.is_eog(next)) {
      r.stop_reason = "eos";
      r.pending = next;  // a conversation goes on after it, as llama.cpp's chat mode does
      break;
    }
    r.tokens.push_back(next);
    show(stops.push(detok.push(next)));
    r.pending = next;
    if (stops.matched()) {
      r.stop_reason = "stop";
      break;
    }
    if (i + 1 == settings.n_predict) break;  // the last token needs no forward pass now
    if (session.pos() >= session.n_ctx()) {
      r.stop_reason = "context";
      break;
    }
    Timer step;
    session.step(next);
    r.pending = -1;
    r.token_ms.push_back(step.seconds() * 1e3);
  }
  // gen_seconds covers the decode steps only, so that tokens/s is steps per second.
  for (double ms : r.token_ms) r.gen_seconds += ms / 1e3;
  if (!stops.matched()) {
    show(stops.push(detok.flush()));
    show(stops.flush());
  }
  return r;
}

GenerationResult generate(Engine& engine, const std::string& prompt, const GenerationSettings& settings,
                          const SamplerParams& sampling, const std::function<void(std::string_view)>& on_text) {
  const Tokenizer& tok = engine.tokenizer();
  Session session(engine, sampling);
  return generate_turn(session, tok.encode(prompt, tok.add_bos()), -1, settings, on_text);
}

}  // namespace swapmoe
