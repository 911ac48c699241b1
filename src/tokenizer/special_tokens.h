// Finding special tokens in text before the vocabulary's algorithm runs (llama.cpp's
// tokenizer_st_partition): the text is cut around every occurrence of each token, longest
// token first, leftmost occurrence first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace swapmoe {

// A stretch of input: raw text still to be tokenized, or a token already matched verbatim.
struct TextFragment {
  int32_t id;  // TOKEN_NULL for raw text
  size_t offset;
  size_t length;
};

// With parse_special, CONTROL, USER_DEFINED and UNKNOWN tokens are matched; without it only
// USER_DEFINED ones (llama.cpp matches those always). A token with lstrip/rstrip swallows the
// ASCII whitespace before/after it.
std::vector<TextFragment> split_special_tokens(const Vocab& vocab, std::string_view text, bool parse_special);

}  // namespace swapmoe
