// Splits text into words before byte-level BPE, with the regex list that llama.cpp uses for a
// tokenizer.ggml.pre name. Regexes run with PCRE2 on a per-code-point array built the way
// llama.cpp feeds its regex engine, so that both agree on every split:
//  - patterns with \p{..} see a "collapsed" text in which each non-ASCII code point stands for
//    its class (whitespace, L, N, P, M, S, other) and ASCII is itself;
//  - patterns without \p{..} see the code points, with non-ASCII whitespace as U+000B.
// Each pattern splits the pieces left by the previous one; text between matches is kept.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace swapmoe {

class PreTokenizer {
 public:
  // Throws swapmoe::Error for a name llama.cpp does not know or this engine does not cover.
  explicit PreTokenizer(std::string_view pre_name);
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  // The words of `text`, each as GPT-2 byte-level text (bytes mapped to printable code
  // points), ready for the merges. Invalid UTF-8 bytes become U+FFFD first, as in llama.cpp.
  void split(std::string_view text, std::vector<std::string>& words) const;

  // Whether llama.cpp looks a whole word up in the vocabulary before merging (llama3 family).
  bool ignore_merges() const { return ignore_merges_; }
  // llama.cpp's default of add_bos for this pre-tokenizer when the GGUF does not say.
  bool default_add_bos() const { return default_add_bos_; }

 private:
  struct Compiled;
  std::vector<std::unique_ptr<Compiled>> patterns_;
  bool ignore_merges_ = false;
  bool default_add_bos_ = false;
};

// Known tokenizer.ggml.pre names, for messages.
std::string supported_pre_tokenizers();

}  // namespace swapmoe
