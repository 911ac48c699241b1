// HttpServer: the OpenAI-compatible HTTP front of `swapmoe serve` (cpp-httplib). Requests are
// parsed and checked on the HTTP threads; generation goes to the Scheduler's engine thread and
// comes back through a ReplyChannel, streamed as server-sent events or answered whole.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <semaphore>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/chat_format.h"
#include "runtime/engine.h"
#include "runtime/stop_strings.h"
#include "sampling/sampler.h"
#include "server/budget_control.h"
#include "server/scheduler.h"
#include "server/server_metrics.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}

namespace swapmoe::server {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                   // 0: any free port (tests)
  std::string api_key;               // "": no key needed
  std::string model_id;              // what /v1/models lists and requests may name
  size_t body_limit = 4u << 20;      // bytes; larger bodies get 413
  int http_threads = 0;              // 0: enough for every slot and queued request, plus a few
  SamplerParams sampling;            // defaults for fields a request leaves out
  bool seed_given = false;           // sampling.seed is --seed: requests without a seed use it
  int default_max_tokens = -1;       // -1: until end of generation or a full context
  std::shared_ptr<const ChatFormat> chat;  // the model's chat template
  std::vector<StopString> chat_stops;  // the template's end of turn, for models without that token
  class ClassifyEndpoint* classify = nullptr;  // vision models: POST /v1/classify
};

class HttpServer {
 public:
  HttpServer(Scheduler& scheduler, const Engine& engine, ServerMetrics& metrics, BudgetControl& budget,
             HttpOptions options);
  ~HttpServer();

  // Binds the address; returns the port (the chosen one for port 0). Throws naming the address.
  int bind();
  // Serves until stop(); returns false when the listener failed.
  bool serve();
  void stop();

 private:
  void routes();
  // POST /v1/chat/completions (chat) and /v1/completions.
  void complete(const httplib::Request& req, httplib::Response& res, bool chat);
  // Tokenizing takes about 50 bytes of memory a byte of text while it runs: large texts go a few
  // at a time, so that 4 MB bodies on every HTTP thread at once cannot take threads x 200 MB;
  // one that waits 5 s for its turn gets 503.
  static constexpr size_t k_large_text = 64u << 10;
  std::vector<int32_t> encode_text(std::string_view text, bool add_bos, bool parse_special) const;
  // The tokens a request's prompt or conversation becomes; throws ApiError when it is unusable.
  std::vector<int32_t> prompt_tokens(const struct CompletionRequest& r) const;

  Scheduler& scheduler_;
  const Engine& engine_;
  ServerMetrics& metrics_;
  BudgetControl& budget_;
  HttpOptions options_;
  std::unique_ptr<class GuardedServer> http_;
  mutable std::counting_semaphore<> large_encodes_{2};
};

}  // namespace swapmoe::server
