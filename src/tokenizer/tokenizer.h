// Text <-> token ids for a Vocab, reproducing llama.cpp's results (encode without special-token
// parsing, decode without rendering control tokens). Dispatches on the vocabulary type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace swapmoe {

class GgufFile;

class Tokenizer {
 public:
  // Throws swapmoe::Error for a vocabulary type without an implementation.
  explicit Tokenizer(Vocab vocab);
  static Tokenizer from_gguf(const GgufFile& file);

  // Text to ids. With add_bos, the BOS token comes first (pass add_bos() for the model's own
  // preference). Text that spells a control token ("<s>") is tokenized as plain text, as
  // llama.cpp does with parse_special = false; USER_DEFINED tokens are matched verbatim.
  // Never appends EOS: a prompt continues, it does not end.
  std::vector<int32_t> encode(std::string_view text, bool add_bos) const;

  // The bytes of one token: U+2581 becomes a space, <0xXX> becomes that byte, control,
  // unknown and unused tokens become "". May be a partial UTF-8 sequence.
  // Throws swapmoe::Error for an id out of range.
  const std::string& token_to_piece(int32_t id) const;

  // Concatenated pieces, as llama.cpp's detokenize(remove_special = false, unparse_special =
  // false): with add_space_prefix, the first token loses one leading space (the one encode
  // added) unless the sequence starts with BOS, in which case the space after it is kept.
  std::string decode(const std::vector<int32_t>& ids) const;

  const Vocab& vocab() const { return vocab_; }
  int32_t n_vocab() const { return vocab_.n_tokens(); }
  int32_t bos_id() const { return vocab_.config().bos_id; }
  int32_t eos_id() const { return vocab_.config().eos_id; }
  bool add_bos() const { return vocab_.config().add_bos; }
  bool is_eog(int32_t id) const { return vocab_.is_eog(id); }

 private:
  void encode_spm(std::string_view text, std::vector<int32_t>& out) const;

  Vocab vocab_;
  std::vector<std::string> pieces_;  // token_to_piece for every id, built once
};

}  // namespace swapmoe
