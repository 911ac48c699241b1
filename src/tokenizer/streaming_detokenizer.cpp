// StreamingDetokenizer: piece concatenation with UTF-8 completion and repair.
#include "tokenizer/streaming_detokenizer.h"

#include <string_view>

#include "tokenizer/utf8.h"

namespace swapmoe {

StreamingDetokenizer::StreamingDetokenizer(const Tokenizer& tokenizer, StreamStart start)
    : tokenizer_(tokenizer),
      strip_space_(start == StreamStart::BEGINNING && tokenizer.vocab().config().add_space_prefix) {}

std::string StreamingDetokenizer::push(int32_t id) {
  std::string_view piece = tokenizer_.token_to_piece(id);
  // Same rule as Tokenizer::decode: only the first token is considered, even if empty (BOS).
  if (strip_space_ && !piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
  strip_space_ = false;

  pending_ += piece;
  std::string out;
  out.reserve(pending_.size());
  std::string_view rest = pending_;
  while (!rest.empty()) {
    const int n = utf8_check_prefix(rest);
    if (n == 0) break;  // incomplete: keep it for the next token
    if (n > 0) {
      out += rest.substr(0, n);
      rest.remove_prefix(n);
    } else {
      out += UTF8_REPLACEMENT;
      rest.remove_prefix(-n);
    }
  }
  pending_ = std::string(rest);
  return out;
}

std::string StreamingDetokenizer::flush() {
  strip_space_ = false;
  if (pending_.empty()) return {};
  pending_.clear();
  return std::string(UTF8_REPLACEMENT);  // a truncated sequence is one maximal ill-formed subpart
}

}  // namespace swapmoe
