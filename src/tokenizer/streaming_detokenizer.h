// Turns a stream of token ids into printable text: a token may end in the middle of a UTF-8
// character (byte tokens, split emoji), so incomplete sequences are held until completed.
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"

namespace swapmoe {

// Where the stream sits in the text, which decides the fate of the first token's leading space.
enum class StreamStart {
  BEGINNING,     // the first token starts the text: its space is dropped like decode() does
  CONTINUATION,  // tokens generated after a prompt: every space is kept
};

class StreamingDetokenizer {
 public:
  // Keeps a reference: `tokenizer` must outlive this object.
  StreamingDetokenizer(const Tokenizer& tokenizer, StreamStart start);

  // Text completed by this token: only whole, valid UTF-8 characters. An ill-formed
  // sequence becomes U+FFFD (one per maximal ill-formed subpart); a valid but incomplete
  // tail is held back for the next token.
  std::string push(int32_t id);

  // At the end of the stream: the held-back tail as U+FFFD ("" if nothing is held).
  // The detokenizer can be reused afterwards; it continues as CONTINUATION.
  std::string flush();

  bool has_pending() const { return !pending_.empty(); }

 private:
  const Tokenizer& tokenizer_;
  bool strip_space_;
  std::string pending_;  // an incomplete UTF-8 prefix (at most 3 bytes)
};

}  // namespace swapmoe
