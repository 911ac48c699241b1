// Engine: everything needed to evaluate one model (file, tokenizer, threads, expert policy,
// forward pass with its KV cache), built from one set of options.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/thread_pool.h"
#include "model/expert_provider.h"
#include "model/model.h"
#include "model/transformer.h"
#include "tokenizer/tokenizer.h"

namespace swapmoe {

struct EngineOptions {
  std::string model_path;
  int n_threads = 0;      // 0: all hardware threads
  int64_t n_ctx = 512;    // KV cache length
  int64_t n_ubatch = 64;  // tokens evaluated together during prefill
};

class Engine {
 public:
  explicit Engine(const EngineOptions& options);
  ~Engine();

  const EngineOptions& options() const { return options_; }
  const Model& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  Transformer& transformer() { return *transformer_; }
  ThreadPool& pool() { return *pool_; }

 private:
  EngineOptions options_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<ExpertProvider> experts_;
  std::unique_ptr<Transformer> transformer_;
};

int default_thread_count();

}  // namespace swapmoe
