// Vocabulary construction, validation and lookups (the GGUF reading is in vocab_gguf.cpp).
#include "tokenizer/vocab.h"

#include <algorithm>
#include <array>

#include "core/error.h"

namespace swapmoe {

namespace {

// Texts that llama.cpp treats as end of generation whatever the metadata says; chat models
// often mark only eos, and generation would otherwise run past the end of a turn.
constexpr std::array<std::string_view, 22> k_eog_texts = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>",  // DeepSeek's, full-width bars
    "[e~[",
};

// gpt-oss (harmony) structure tokens: llama.cpp always renders them, as USER_DEFINED.
constexpr std::array<std::string_view, 4> k_rendered_structure_texts = {
    "<|channel|>", "<|message|>", "<|start|>", "<|constrain|>",
};

void check_special_id(const char* name, int32_t id, int32_t n_tokens) {
  if (id != TOKEN_NULL && (id < 0 || id >= n_tokens)) {
    fail("vocab", std::string(name) + " = " + std::to_string(id) + " is outside the vocabulary of " +
                      std::to_string(n_tokens) + " tokens",
         "the tokenizer metadata is inconsistent; fix the special token ids in the model file");
  }
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

const char* vocab_type_name(VocabType t) {
  switch (t) {
    case VocabType::SPM: return "SPM";
    case VocabType::BPE: return "BPE";
  }
  return "?";
}

Vocab::Vocab(VocabType type, std::vector<std::string> texts, std::vector<float> scores,
             std::vector<TokenType> types, VocabConfig config, std::vector<std::string> merges)
    : type_(type), config_(std::move(config)), merges_(std::move(merges)) {
  if (!scores.empty() && scores.size() != texts.size()) {
    fail("vocab", std::to_string(scores.size()) + " scores for " + std::to_string(texts.size()) + " tokens",
         "tokenizer.ggml.scores must have one entry per token");
  }
  if (!types.empty() && types.size() != texts.size()) {
    fail("vocab", std::to_string(types.size()) + " token types for " + std::to_string(texts.size()) + " tokens",
         "tokenizer.ggml.token_type must have one entry per token");
  }
  tokens_.resize(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    tokens_[i].text = std::move(texts[i]);
    tokens_[i].score = scores.empty() ? 0.0f : scores[i];
    tokens_[i].type = types.empty() ? TokenType::NORMAL : types[i];
  }
  build_index();
}

void Vocab::build_index() {
  if (tokens_.empty()) fail("vocab", "the vocabulary has no tokens", "tokenizer.ggml.tokens is empty");
  if (tokens_.size() > static_cast<size_t>(INT32_MAX)) fail("vocab", "too many tokens for 32-bit ids");
  const int32_t n = n_tokens();

  text_to_id_.clear();
  text_to_id_.reserve(tokens_.size());
  for (int32_t i = 0; i < n; ++i) {
    auto& t = tokens_[i];
    const auto type_value = static_cast<int32_t>(t.type);
    if (type_value < 0 || type_value > static_cast<int32_t>(TokenType::BYTE)) {
      fail("vocab", "token " + std::to_string(i) + " has type " + std::to_string(type_value),
           "tokenizer.ggml.token_type values must be 0..6");
    }
    // An empty text could never be matched and would collide with other empty ones;
    // llama.cpp renames it the same way.
    if (t.text.empty()) t.text = "[EMPTY_" + std::to_string(i) + "]";
    if (t.type == TokenType::BYTE) (void)token_to_byte(i);  // fails early on a misspelt byte token
    const auto [it, inserted] = text_to_id_.emplace(t.text, i);
    if (!inserted) {
      fail("vocab", "tokens " + std::to_string(it->second) + " and " + std::to_string(i) + " share the text '" +
                        t.text + "'",
           "token texts must be unique; the model file's vocabulary is corrupt");
    }
  }

  check_special_id("bos_token_id", config_.bos_id, n);
  check_special_id("eos_token_id", config_.eos_id, n);
  check_special_id("unknown_token_id", config_.unk_id, n);
  check_special_id("padding_token_id", config_.pad_id, n);
  check_special_id("eot_token_id", config_.eot_id, n);
  check_special_id("eom_token_id", config_.eom_id, n);
  if (config_.add_bos && config_.bos_id == TOKEN_NULL) {
    fail("vocab", "add_bos_token is set but there is no bos_token_id", "set tokenizer.ggml.bos_token_id");
  }
  if (config_.add_eos && config_.eos_id == TOKEN_NULL) {
    fail("vocab", "add_eos_token is set but there is no eos_token_id", "set tokenizer.ggml.eos_token_id");
  }

  mark_end_of_generation();

  user_defined_ids_.clear();
  for (int32_t i = 0; i < n; ++i) {
    if (tokens_[i].type == TokenType::USER_DEFINED) user_defined_ids_.push_back(i);
  }
  // Longest first so that a token containing another wins; ties by id keep it deterministic.
  std::stable_sort(user_defined_ids_.begin(), user_defined_ids_.end(), [&](int32_t a, int32_t b) {
    return tokens_[a].text.size() > tokens_[b].text.size();
  });

  special_ids_.clear();
  for (int32_t i = 0; i < n; ++i) {
    const TokenType t = tokens_[i].type;
    if (t == TokenType::CONTROL || t == TokenType::USER_DEFINED || t == TokenType::UNKNOWN) special_ids_.push_back(i);
  }
  std::stable_sort(special_ids_.begin(), special_ids_.end(), [&](int32_t a, int32_t b) {
    return tokens_[a].text.size() > tokens_[b].text.size();
  });
}

void Vocab::mark_end_of_generation() {
  eog_ids_.clear();
  for (int32_t id : {config_.eos_id, config_.eot_id, config_.eom_id}) {
    if (id != TOKEN_NULL) eog_ids_.push_back(id);
  }
  for (auto text : k_eog_texts) {
    const int32_t id = text_to_token(text);
    if (id == TOKEN_NULL) continue;
    eog_ids_.push_back(id);
    // As in llama.cpp: an end-of-turn marker must never be printed, so it is made CONTROL.
    tokens_[id].type = TokenType::CONTROL;
  }
  for (auto text : k_rendered_structure_texts) {
    const int32_t id = text_to_token(text);
    if (id != TOKEN_NULL) tokens_[id].type = TokenType::USER_DEFINED;
  }
  std::sort(eog_ids_.begin(), eog_ids_.end());
  eog_ids_.erase(std::unique(eog_ids_.begin(), eog_ids_.end()), eog_ids_.end());

  auto in_eog = [&](std::string_view text) {
    const int32_t id = text_to_token(text);
    return id != TOKEN_NULL && is_eog(id) ? id : TOKEN_NULL;
  };
  auto drop_eog = [&](int32_t id, TokenType new_type) {
    eog_ids_.erase(std::find(eog_ids_.begin(), eog_ids_.end(), id));
    tokens_[id].type = new_type;
  };
  // Harmony (gpt-oss) and solar-open: "<|end|>" closes a message inside a turn, the turn ends
  // with "<|return|>" or "<|call|>"; llama.cpp keeps generating through "<|end|>" and prints it.
  const int32_t end_id = in_eog("<|end|>");
  const bool has_call = in_eog("<|call|>") != TOKEN_NULL || in_eog("<|calls|>") != TOKEN_NULL;
  if (end_id != TOKEN_NULL && has_call && (in_eog("<|return|>") != TOKEN_NULL || in_eog("<|flush|>") != TOKEN_NULL)) {
    drop_eog(end_id, TokenType::USER_DEFINED);
  }
  // Gemma 4: "</s>" is ordinary text there.
  const int32_t s_id = in_eog("</s>");
  if (s_id != TOKEN_NULL && in_eog("<|tool_response>") != TOKEN_NULL) {
    drop_eog(s_id, TokenType::NORMAL);
  }
}

const TokenData& Vocab::token(int32_t id) const {
  if (!is_valid(id)) {
    fail("vocab", "token id " + std::to_string(id) + " is outside the vocabulary of " +
                      std::to_string(n_tokens()) + " tokens");
  }
  return tokens_[id];
}

int32_t Vocab::text_to_token(std::string_view text) const {
  const auto it = text_to_id_.find(text);
  return it == text_to_id_.end() ? TOKEN_NULL : it->second;
}

int32_t Vocab::byte_to_token(uint8_t byte) const {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  const char name[6] = {'<', '0', 'x', k_hex[byte >> 4], k_hex[byte & 15], '>'};
  const int32_t id = text_to_token(std::string_view(name, 6));
  if (id != TOKEN_NULL) return id;
  const char raw = static_cast<char>(byte);
  return text_to_token(std::string_view(&raw, 1));
}

uint8_t Vocab::token_to_byte(int32_t id) const {
  const std::string& text = token(id).text;
  const int hi = text.size() == 6 ? hex_digit(text[3]) : -1;
  const int lo = text.size() == 6 ? hex_digit(text[4]) : -1;
  if (hi < 0 || lo < 0 || text.compare(0, 3, "<0x") != 0 || text[5] != '>') {
    fail("vocab", "token " + std::to_string(id) + " ('" + text + "') is not a byte token",
         "byte tokens are spelled <0xXX>");
  }
  return static_cast<uint8_t>(hi * 16 + lo);
}

bool Vocab::is_eog(int32_t id) const {
  return std::binary_search(eog_ids_.begin(), eog_ids_.end(), id);
}

}  // namespace swapmoe
