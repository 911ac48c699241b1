#include "runtime/generation.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "core/timer.h"
#include "runtime/session.h"
#include "runtime/reply_builder.h"

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

void check_text_fits_context(const Session& session, std::string_view text) {
  const Tokenizer& tok = session.engine().tokenizer();
  const int64_t at_least = tok.min_tokens(text.size());
  if (session.pos() + at_least < session.n_ctx()) return;
  const std::string room = session.pos() == 0 ? fmt::format("the context holds {}", session.n_ctx())
                                              : fmt::format("only {} of the context's {} are left",
                                                            session.n_ctx() - session.pos(), session.n_ctx());
  fail("generate",
       fmt::format("the prompt is {} bytes, so at least {} tokens (no token stands for more than {} bytes), but {}",
                   text.size(), at_least, tok.max_token_bytes(), room),
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

  ReplyBuilder reply(tok, settings.n_predict, settings.stops, settings.ignore_eos);
  auto show = [&](const std::string& text) {
    if (text.empty()) return;
    r.text += text;
    if (on_text) on_text(text);
  };
  while (!reply.done()) {
    if (settings.interrupt && settings.interrupt->load()) {
      reply.end("interrupted");
      break;
    }
    const int32_t next = session.sample(reply.banned());
    show(reply.push(next));
    // The last sampled token is evaluated by the next turn, if any: after an end-of-generation
    // token a conversation goes on, as llama.cpp's chat mode does.
    r.pending = next;
    if (reply.done()) break;  // the last token needs no forward pass now
    if (session.pos() >= session.n_ctx()) {
      reply.end("context");
      break;
    }
    Timer step;
    session.step(next);
    r.pending = -1;
    r.token_ms.push_back(step.seconds() * 1e3);
  }
  r.tokens = reply.tokens();
  r.stop_reason = reply.stop_reason();
  // gen_seconds covers the decode steps only, so that tokens/s is steps per second.
  for (double ms : r.token_ms) r.gen_seconds += ms / 1e3;
  show(reply.flush());
  return r;
}

GenerationResult generate(Engine& engine, const std::string& prompt, const GenerationSettings& settings,
                          const SamplerParams& sampling, const std::function<void(std::string_view)>& on_text) {
  const Tokenizer& tok = engine.tokenizer();
  Session session(engine, sampling);
  return generate_turn(session, tok.encode(prompt, tok.add_bos()), -1, settings, on_text);
}

}  // namespace swapmoe
