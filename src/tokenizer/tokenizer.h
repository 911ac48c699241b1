// Text <-> token ids for a Vocab, reproducing llama.cpp's results (special tokens in text parsed
// or not, control tokens rendered or not). Dispatches on the vocabulary type.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace swapmoe {

class GgufFile;
class BpeMerges;
class PreTokenizer;

class Tokenizer {
 public:
  // Throws swapmoe::Error for a vocabulary type without an implementation.
  explicit Tokenizer(Vocab vocab);
  static Tokenizer from_gguf(const GgufFile& file);

  // Text to ids. With add_bos, the BOS token comes first (pass add_bos() for the model's own
  // preference). Without parse_special, text that spells a control token ("<s>",
  // "<|im_start|>") is tokenized as plain text; with it, such text becomes that token (chat
  // templates need this). USER_DEFINED tokens are matched verbatim either way (llama.cpp).
  // Never appends EOS: a prompt continues, it does not end.
  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special = false) const;

  // The bytes of one token: SPM's U+2581 becomes a space and <0xXX> that byte, BPE's
  // byte-level code points become their bytes; control, unknown and unused tokens become ""
  // unless render_special, which gives their text. May be a partial UTF-8 sequence.
  // Throws swapmoe::Error for an id out of range.
  const std::string& token_to_piece(int32_t id, bool render_special = false) const;

  // Concatenated pieces, as llama.cpp's detokenize(remove_special = false, unparse_special =
  // render_special): with add_space_prefix (SPM), the first token loses one leading space (the
  // one encode added) unless the sequence starts with BOS, in which case the space after it is
  // kept. No clean-up of spaces before punctuation, so that decode(encode(s)) == s.
  std::string decode(const std::vector<int32_t>& ids, bool render_special = false) const;

  // The fewest tokens `n_bytes` of text can become (BOS not counted): no token stands for more
  // bytes than the longest in the vocabulary. Lets a caller refuse a text too long for a context
  // before spending the time and memory (about 50 bytes a byte) that tokenizing it takes.
  int64_t min_tokens(size_t n_bytes) const;
  size_t max_token_bytes() const { return max_token_bytes_; }

  const Vocab& vocab() const { return vocab_; }
  int32_t n_vocab() const { return vocab_.n_tokens(); }
  int32_t bos_id() const { return vocab_.config().bos_id; }
  int32_t eos_id() const { return vocab_.config().eos_id; }
  bool add_bos() const { return vocab_.config().add_bos; }
  bool is_eog(int32_t id) const { return vocab_.is_eog(id); }

 private:
  void encode_spm(std::string_view text, bool parse_special, std::vector<int32_t>& out) const;
  void encode_bpe(std::string_view text, bool parse_special, std::vector<int32_t>& out) const;

  Vocab vocab_;
  std::vector<std::string> pieces_;  // token_to_piece for every id, built once
  size_t max_token_bytes_ = 1;       // the most text bytes one token stands for
  // BPE only; shared so that a Tokenizer stays copyable (both are immutable once built).
  std::shared_ptr<const PreTokenizer> pre_tokenizer_;
  std::shared_ptr<const BpeMerges> merges_;
};

}  // namespace swapmoe
