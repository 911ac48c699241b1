// Byte-level BPE on one pre-tokenized word: the lowest-ranked adjacent pair in
// tokenizer.ggml.merges is merged first, until no pair of the word has a rank.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/vocab.h"

namespace swapmoe {

class BpeMerges {
 public:
  // Lines "left right", rank = line number; split at the first space after the first byte,
  // as llama.cpp does. Lines without such a space rank nothing.
  explicit BpeMerges(const std::vector<std::string>& lines);

  // Rank of merging `left` and `right`; -1 if the pair is not a merge.
  int rank(std::string_view left, std::string_view right) const;
  size_t size() const { return ranks_.size(); }

 private:
  struct text_hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, int, text_hash, std::equal_to<>> ranks_;  // key "left right"
};

// Appends the ids of `word` (byte-level text from PreTokenizer). With `ignore_merges`, a word
// that is a token as a whole becomes that token directly (llama.cpp's llama3 rule). A merged
// symbol that is not a token falls back to its single-byte tokens, skipping those missing.
void bpe_encode_word(const Vocab& vocab, const BpeMerges& merges, bool ignore_merges, std::string_view word,
                     std::vector<int32_t>& out);

}  // namespace swapmoe
