// SentencePiece-style (SPM) segmentation as llama.cpp implements it: UTF-8 symbols merged
// pairwise by vocabulary score, unmatched symbols spelled as <0xXX> byte tokens.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace swapmoe {

// Appends the tokens of `text` to `out`. `text` must already be escaped (spaces as U+2581) and
// carry the space prefix if one is wanted; special-token splitting happens before this.
void spm_tokenize(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out);

}  // namespace swapmoe
