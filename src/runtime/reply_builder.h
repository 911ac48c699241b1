// ReplyBuilder: the text side of generation, one sampled token at a time: end-of-generation
// tokens, stop strings, the token limit and UTF-8 characters split across tokens. The token loop
// is the caller's: generate_turn drives one session, the server drives many sessions decoded in
// one batch, and both end replies by the same rules.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/stop_strings.h"
#include "tokenizer/streaming_detokenizer.h"
#include "tokenizer/tokenizer.h"

namespace swapmoe {

class ReplyBuilder {
 public:
  // n_predict: tokens to generate, -1 for no limit. ignore_eos: end-of-generation tokens are
  // banned from sampling (banned() lists them) instead of ending the reply.
  ReplyBuilder(const Tokenizer& tokenizer, int n_predict, std::vector<StopString> stops, bool ignore_eos);

  // Tokens the sampler must never choose.
  const std::vector<int32_t>& banned() const { return banned_; }

  // Takes the token sampled next and returns the text that can be shown now. Afterwards done()
  // says whether the reply ended with it ("eos", "stop" or "limit"). After "eos" the token is not
  // part of the reply.
  std::string push(int32_t token);
  // Ends the reply for a reason of the caller's ("context", "interrupted", "cancelled").
  void end(std::string reason) { reason_ = std::move(reason); }
  // The text still held back once the reply has ended (a partial character or the possible start
  // of a stop string); nothing when a stop string matched.
  std::string flush();

  bool done() const { return !reason_.empty(); }
  const std::string& stop_reason() const { return reason_; }
  const std::vector<int32_t>& tokens() const { return tokens_; }

 private:
  const Tokenizer& tokenizer_;
  int n_predict_;
  StreamingDetokenizer detok_;
  StopStrings stops_;
  std::vector<int32_t> banned_;
  std::vector<int32_t> tokens_;
  std::string reason_;
};

}  // namespace swapmoe
