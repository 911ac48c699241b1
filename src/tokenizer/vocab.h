// A tokenizer vocabulary: token texts, scores and types, special ids and the flags that steer
// encoding, read from GGUF metadata (tokenizer.ggml.*) or built from plain vectors.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace swapmoe {

class GgufFile;

inline constexpr int32_t TOKEN_NULL = -1;  // "no such token"

// The algorithm that turns text into tokens (tokenizer.ggml.model).
enum class VocabType {
  SPM,  // "llama": SentencePiece-style bigram merges by score, byte fallback
  BPE,  // "gpt2": byte-level BPE, regex pre-tokenizer chosen by tokenizer.ggml.pre, ranked merges
};
const char* vocab_type_name(VocabType t);

// tokenizer.ggml.token_type values, numbered as in GGUF / llama.cpp.
enum class TokenType : int32_t {
  UNDEFINED = 0,
  NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6,
};

struct TokenData {
  std::string text;  // SPM: spaces appear as U+2581, bytes as "<0xXX>"
  float score = 0.0f;
  TokenType type = TokenType::NORMAL;
  // When this special token is matched in text, whitespace before (lstrip) or after (rstrip)
  // it is dropped. GGUF files carry no such flags; llama.cpp sets them for a few models.
  bool lstrip = false;
  bool rstrip = false;
};

// Special ids and encoding flags. Defaults are llama.cpp's for SPM ("llama") vocabularies;
// Vocab::from_gguf starts BPE ones from llama.cpp's BPE defaults instead.
struct VocabConfig {
  int32_t bos_id = 1;
  int32_t eos_id = 2;
  int32_t unk_id = 0;
  int32_t pad_id = TOKEN_NULL;
  int32_t eot_id = TOKEN_NULL;  // end of turn, also ends generation
  int32_t eom_id = TOKEN_NULL;  // end of message, also ends generation
  bool add_bos = true;
  bool add_eos = false;
  bool add_space_prefix = true;
  std::string pre = {};  // BPE: tokenizer.ggml.pre, the pre-tokenizer name ("" is llama.cpp's "default")
};

struct Vocab {
 public:
  // Reads tokenizer.ggml.* from the metadata. Throws swapmoe::Error on a missing or malformed
  // key, mismatched array lengths, ids out of range, or an unsupported tokenizer.ggml.model.
  static Vocab from_gguf(const GgufFile& file);

  // For tests and tools. `scores` and `types` may be empty (0.0 and NORMAL for every token),
  // otherwise they must be as long as `texts`. Validates like from_gguf.
  // `merges` (BPE only): tokenizer.ggml.merges, "left right" per line, best first.
  Vocab(VocabType type, std::vector<std::string> texts, std::vector<float> scores = {},
        std::vector<TokenType> types = {}, VocabConfig config = {}, std::vector<std::string> merges = {});

  VocabType type() const { return type_; }
  const VocabConfig& config() const { return config_; }
  int32_t n_tokens() const { return static_cast<int32_t>(tokens_.size()); }
  bool is_valid(int32_t id) const { return id >= 0 && id < n_tokens(); }

  // Checked: throws swapmoe::Error for an id out of range.
  const TokenData& token(int32_t id) const;

  // Exact text lookup; TOKEN_NULL when no token has this text.
  int32_t text_to_token(std::string_view text) const;

  // The token for a raw byte: "<0xXX>" if present, else the one-byte text, else TOKEN_NULL.
  int32_t byte_to_token(uint8_t byte) const;

  // The byte a BYTE token stands for; throws swapmoe::Error if `id` is not a "<0xXX>" token.
  uint8_t token_to_byte(int32_t id) const;

  // End of generation: eos, eot, eom and the end-of-turn texts llama.cpp knows ("<|im_end|>",
  // "<|eot_id|>", gpt-oss's "<|return|>" and "<|call|>", ...).
  bool is_eog(int32_t id) const;
  const std::vector<int32_t>& eog_ids() const { return eog_ids_; }

  // USER_DEFINED tokens, longest text first: these are matched verbatim in input text before
  // the SPM algorithm runs (llama.cpp does this even when special tokens are not parsed).
  const std::vector<int32_t>& user_defined_ids() const { return user_defined_ids_; }

  // CONTROL, USER_DEFINED and UNKNOWN tokens, longest text first: those matched verbatim in
  // text when special tokens are parsed (llama.cpp's special-token cache).
  const std::vector<int32_t>& special_ids() const { return special_ids_; }

  const std::vector<std::string>& merges() const { return merges_; }

 private:
  // Heterogeneous lookup so that string_view queries need no temporary std::string.
  struct text_hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  void build_index();  // validates, then fills text_to_id_, eog_ids_, user_defined_ids_, special_ids_
  void mark_end_of_generation();  // eog_ids_ and the token types llama.cpp adjusts with them

  VocabType type_ = VocabType::SPM;
  std::vector<TokenData> tokens_;
  VocabConfig config_;
  std::unordered_map<std::string, int32_t, text_hash, std::equal_to<>> text_to_id_;
  std::vector<int32_t> eog_ids_;           // sorted
  std::vector<int32_t> user_defined_ids_;  // longest text first
  std::vector<int32_t> special_ids_;       // longest text first
  std::vector<std::string> merges_;
};

}  // namespace swapmoe
