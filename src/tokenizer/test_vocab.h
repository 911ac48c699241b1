// A small SPM vocabulary for tests: <unk>, <s>, </s>, 256 byte tokens, then chosen pieces.
#pragma once

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/vocab.h"

namespace swapmoe::test {

inline constexpr int32_t FIRST_PIECE = 3 + 256;  // id of the first entry of `pieces`

// Pieces use U+2581 for spaces, as SentencePiece models do.
inline Vocab make_spm_vocab(const std::vector<std::pair<std::string, float>>& pieces,
                            const std::vector<std::pair<std::string, TokenType>>& extra = {},
                            VocabConfig config = {}, bool with_bytes = true) {
  std::vector<std::string> texts = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores = {0, 0, 0};
  std::vector<TokenType> types = {TokenType::UNKNOWN, TokenType::CONTROL, TokenType::CONTROL};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    // Without byte tokens the slots still exist (ids stay stable) but cannot be matched.
    texts.push_back(with_bytes ? name : "[unused" + std::to_string(b) + "]");
    scores.push_back(0);
    types.push_back(with_bytes ? TokenType::BYTE : TokenType::UNUSED);
  }
  for (const auto& [text, score] : pieces) {
    texts.push_back(text);
    scores.push_back(score);
    types.push_back(TokenType::NORMAL);
  }
  for (const auto& [text, type] : extra) {
    texts.push_back(text);
    scores.push_back(0);
    types.push_back(type);
  }
  return Vocab(VocabType::SPM, std::move(texts), std::move(scores), std::move(types), config);
}

// The byte token id in make_spm_vocab.
inline int32_t byte_id(uint8_t b) { return 3 + b; }

}  // namespace swapmoe::test
