#include "runtime/engine.h"

#include <thread>

#include <fmt/format.h>

#include "core/error.h"

namespace swapmoe {

int default_thread_count() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

Engine::Engine(const EngineOptions& options) : options_(options) {
  if (options_.n_threads <= 0) options_.n_threads = default_thread_count();
  if (options_.n_threads > 1024)
    fail("engine", fmt::format("{} threads requested", options_.n_threads), "use -t with at most the number of cores");
  model_ = Model::load(options_.model_path);
  tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_gguf(model_->file()));
  if (tokenizer_->n_vocab() != model_->config().n_vocab)
    fail("engine",
         fmt::format("{}: the vocabulary has {} tokens but the embedding table {} rows", options_.model_path,
                     tokenizer_->n_vocab(), model_->config().n_vocab),
         "the file's tokenizer does not belong to its weights");
  pool_ = std::make_unique<ThreadPool>(options_.n_threads);
  transformer_ = std::make_unique<Transformer>(*model_, options_.n_ctx, *pool_, experts_.get(), options_.n_ubatch);
}

Engine::~Engine() = default;

}  // namespace swapmoe
