// Vocab::from_gguf: reads and checks the tokenizer.ggml.* metadata of a GGUF file.
#include <string>

#include "core/error.h"
#include "io/gguf.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/vocab.h"

namespace swapmoe {

namespace {

constexpr const char* k_where = "vocab";

const GgufArray& require_array(const GgufFile& file, const std::string& key, GgufType elem_type) {
  const GgufValue* v = file.find(key);
  if (v == nullptr) {
    fail(k_where, "missing key " + key + " in " + file.path(),
         "this GGUF carries no tokenizer; convert the model with its tokenizer files present");
  }
  if (v->type != GgufType::ARRAY) {
    fail(k_where, key + " is a " + gguf_type_name(v->type) + ", expected an array", "the model file is corrupt");
  }
  const GgufArray& a = v->as_array();
  if (a.elem_type != elem_type) {
    fail(k_where, key + " holds " + gguf_type_name(a.elem_type) + " values, expected " + gguf_type_name(elem_type),
         "the model file is corrupt or was written by an incompatible converter");
  }
  return a;
}

// Reads an optional token id; `fallback` when absent. Range checks happen in Vocab.
int32_t read_id(const GgufFile& file, const std::string& key, int32_t fallback) {
  const GgufValue* v = file.find(key);
  if (v == nullptr) return fallback;
  const int64_t id = v->as_i64();
  if (id < INT32_MIN || id > INT32_MAX) {
    fail(k_where, key + " = " + std::to_string(id) + " does not fit a token id", "the model file is corrupt");
  }
  return static_cast<int32_t>(id);
}

}  // namespace

Vocab Vocab::from_gguf(const GgufFile& file) {
  const GgufValue* model_value = file.find("tokenizer.ggml.model");
  if (model_value == nullptr) {
    fail(k_where, "missing key tokenizer.ggml.model in " + file.path(),
         "this GGUF carries no tokenizer; convert the model with its tokenizer files present");
  }
  const std::string& model = model_value->as_string();
  if (model != "llama" && model != "gpt2") {
    fail(k_where, "tokenizer.ggml.model '" + model + "' is not supported",
         "supported: 'llama' (SentencePiece) and 'gpt2' (byte-level BPE)");
  }
  const VocabType type = model == "gpt2" ? VocabType::BPE : VocabType::SPM;

  const GgufArray& text_array = require_array(file, "tokenizer.ggml.tokens", GgufType::STRING);
  const size_t n = text_array.values.size();
  std::vector<std::string> texts;
  texts.reserve(n);
  for (const auto& v : text_array.values) texts.push_back(v.as_string());

  // Scores and types are optional in llama.cpp (0.0 and NORMAL), but if present must match.
  std::vector<float> scores;
  if (file.find("tokenizer.ggml.scores") != nullptr) {
    const GgufArray& a = require_array(file, "tokenizer.ggml.scores", GgufType::FLOAT32);
    if (a.values.size() != n) {
      fail(k_where, "tokenizer.ggml.scores has " + std::to_string(a.values.size()) + " entries for " +
                        std::to_string(n) + " tokens",
           "the model file is corrupt");
    }
    scores.reserve(n);
    for (const auto& v : a.values) scores.push_back(static_cast<float>(v.as_f64()));
  }
  std::vector<TokenType> types;
  if (file.find("tokenizer.ggml.token_type") != nullptr) {
    const GgufArray& a = require_array(file, "tokenizer.ggml.token_type", GgufType::INT32);
    if (a.values.size() != n) {
      fail(k_where, "tokenizer.ggml.token_type has " + std::to_string(a.values.size()) + " entries for " +
                        std::to_string(n) + " tokens",
           "the model file is corrupt");
    }
    types.reserve(n);
    for (const auto& v : a.values) types.push_back(static_cast<TokenType>(v.as_i64()));  // range-checked in Vocab
  }

  VocabConfig config;  // SPM defaults
  std::vector<std::string> merges;
  if (type == VocabType::BPE) {
    // llama.cpp's BPE defaults; the pre-tokenizer decides add_bos (Llama 3 adds it).
    config.bos_id = 11;
    config.eos_id = 11;
    config.unk_id = TOKEN_NULL;
    config.add_space_prefix = false;
    config.pre = file.get_string("tokenizer.ggml.pre", "default");
    config.add_bos = PreTokenizer(config.pre).default_add_bos();
    const GgufArray& a = require_array(file, "tokenizer.ggml.merges", GgufType::STRING);
    merges.reserve(a.values.size());
    for (const auto& v : a.values) merges.push_back(v.as_string());
  }
  config.bos_id = read_id(file, "tokenizer.ggml.bos_token_id", config.bos_id);
  config.eos_id = read_id(file, "tokenizer.ggml.eos_token_id", config.eos_id);
  config.unk_id = read_id(file, "tokenizer.ggml.unknown_token_id", config.unk_id);
  config.pad_id = read_id(file, "tokenizer.ggml.padding_token_id", config.pad_id);
  config.eot_id = read_id(file, "tokenizer.ggml.eot_token_id", config.eot_id);
  config.eom_id = read_id(file, "tokenizer.ggml.eom_token_id", config.eom_id);
  // Some converters write padding = n_vocab (an id the model never emits); llama.cpp ignores
  // such an id with a warning, and nothing here needs the pad token, so it is dropped.
  if (config.pad_id < 0 || static_cast<size_t>(config.pad_id) >= n) config.pad_id = TOKEN_NULL;
  config.add_bos = file.get_bool("tokenizer.ggml.add_bos_token", config.add_bos);
  config.add_eos = file.get_bool("tokenizer.ggml.add_eos_token", config.add_eos);
  config.add_space_prefix = file.get_bool("tokenizer.ggml.add_space_prefix", config.add_space_prefix);

  return Vocab(type, std::move(texts), std::move(scores), std::move(types), std::move(config), std::move(merges));
}

}  // namespace swapmoe
