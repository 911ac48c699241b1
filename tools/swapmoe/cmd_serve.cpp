// swapmoe serve: an OpenAI-compatible HTTP server (src/server) whose memory budget can change
// while it serves: by a client (POST /v1/memory) or by following the device's free memory
// (--memory-budget auto).
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <memory>
#include <thread>

#include <malloc.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli_common.h"
#include "core/error.h"
#include "runtime/chat_format.h"
#include "runtime/image_classifier.h"
#include "server/classify_endpoint.h"
#include "server/auto_budget.h"
#include "server/budget_control.h"
#include "server/http_server.h"
#include "server/scheduler.h"

namespace swapmoe::cli {

namespace {

// HTTP threads at most: each costs a stack (8 MiB reserved) and a share of the CPU.
constexpr int k_max_http_threads = 512;

struct ServeOptions {
  ModelOptions model;
  std::string host = "127.0.0.1";
  int port = 8080;
  int n_parallel = 1;
  int queue = 64;
  std::string api_key;
  std::string alias;
  std::string chat_template;
  std::string memory_reserve = "1G";
  int n_predict = -1;
  double grace_seconds = 10;
  size_t body_limit = 4u << 20;
  int image_batch = kDefaultImageBatch;
  SamplerParams sampling;
  uint64_t seed = 0;
  bool seed_given = false;
};

// SIGINT and SIGTERM are taken by one thread (sigwait) instead of interrupting whichever thread
// they land on: blocked here, before any thread starts, so that every thread inherits the mask.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client gone mid-write is an error return, not a signal
  return set;
}

void serve(ServeOptions o) {
  // glibc gives each thread that allocates its own arena (up to 8 per core), and memory freed in
  // one is not reused by another: a few 1 MB requests spread over the HTTP threads left the
  // resident size 210 MiB high (measured over 15 requests); two arenas, with the trim after
  // large requests (guarded_server.cpp), leave it at 45 MiB. The engine allocates up front.
  mallopt(M_ARENA_MAX, 2);
  const sigset_t stop_signals = block_stop_signals();
  ModelOptions& m = o.model;
  // A budget given at start-up keeps a budgeted policy even when it holds every expert, so that
  // the budget can be lowered later; without one the full model runs and the budget is fixed.
  const bool adjustable = !m.memory_budget.empty() || !m.expert_budget.empty();
  if (adjustable && m.policy.empty()) m.policy = "swapmoe";
  const bool automatic = m.memory_budget == "auto";
  m.model = resolve_model_path(m.model);
  const bool vision = Model::load(m.model, DenseWeights::LAZY)->config().is_vision();
  // The engine's options for a budget: one session per sequence, a decode step's micro-batch
  // carrying one token of each; a vision model's, batches of images.
  auto options_for = [&](const std::string& budget) {
    ModelOptions with = m;
    with.memory_budget = budget;
    EngineOptions eo = engine_options(with);
    if (vision) return vision_engine_options(eo, o.image_batch);
    eo.n_sessions = o.n_parallel;
    eo.n_ubatch = std::max<int64_t>(eo.n_ubatch, o.n_parallel);
    return eo;
  };
  uint64_t reserve = 0;
  if (automatic) {
    const Budget r = Budget::parse(o.memory_reserve);
    if (r.kind != Budget::BYTES) fail("serve", "--memory-reserve takes a size, e.g. 1G or 512M", "");
    reserve = r.bytes;
    const MemoryPlan full = Engine::preview_plan(options_for("100%"));
    m.memory_budget = std::to_string(server::initial_auto_budget(full.full_footprint(), full.minimum(), reserve));
  }
  const EngineOptions eo = options_for(m.memory_budget);
  Engine engine(eo);
  lock_memory_if_asked(m);
  note_plan_scaling(engine);

  server::ServerMetrics metrics;
  server::Scheduler scheduler(engine, {o.n_parallel, o.queue}, metrics);
  server::BudgetControl budget(scheduler, metrics, adjustable);

  // A vision model answers POST /v1/classify on the engine thread, in batches of --image-batch.
  std::unique_ptr<ImageClassifier> classifier;
  std::unique_ptr<server::ClassifyEndpoint> classify;
  server::HttpOptions h;
  h.model_id = !o.alias.empty() ? o.alias : std::filesystem::path(eo.model_path).filename().string();
  if (vision) {
    classifier = std::make_unique<ImageClassifier>(engine);
    classify = std::make_unique<server::ClassifyEndpoint>(scheduler, *classifier, metrics, h.model_id);
    h.classify = classify.get();
  }
  h.host = o.host;
  h.port = o.port;
  h.api_key = o.api_key;
  h.body_limit = o.body_limit;
  // Every streaming client holds a thread; capped, so that a large --queue cannot ask for
  // thousands of threads (requests beyond the cap wait for a thread, then the queue).
  h.http_threads = std::min(o.n_parallel + o.queue + 8, k_max_http_threads);
  h.sampling = o.sampling;
  h.sampling.seed = o.seed;
  h.seed_given = o.seed_given;
  h.default_max_tokens = o.n_predict;
  if (!vision) {
    h.chat = std::make_shared<const ChatFormat>(chat_format_for(engine.model().file(), o.chat_template));
    const std::string turn_end = chat_turn_end(*h.chat);
    if (!turn_end.empty()) h.chat_stops.push_back({turn_end, false});
  }
  server::HttpServer http(scheduler, engine, metrics, budget, h);
  const int port = http.bind();

  std::unique_ptr<server::AutoBudget> governor;
  if (automatic) governor = std::make_unique<server::AutoBudget>(budget, engine.full_footprint(), engine.minimum_budget(), reserve);

  std::thread signals([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::cerr << fmt::format("\nserve: {} received: no new requests; finishing those in flight (up to {:g} s)\n",
                             sig == SIGINT ? "SIGINT" : "SIGTERM", o.grace_seconds);
    if (governor) governor->stop();
    scheduler.shutdown(std::chrono::milliseconds(static_cast<int64_t>(o.grace_seconds * 1000)));
    http.stop();
  });
  const std::string budget_text = engine.options().budget.is_set() ? engine.options().budget.describe() : "none";
  if (vision)
    std::cerr << fmt::format("serve: {} (vision) on http://{}:{}: POST /v1/classify ({} images a batch, policy {}, "
                             "budget {})\n", h.model_id, o.host, port, o.image_batch,
                             policy_name(engine.policy().kind()), budget_text);
  else
    std::cerr << fmt::format("serve: {} on http://{}:{} ({} sequence(s), policy {}, budget {}, context {})\n",
                             h.model_id, o.host, port, o.n_parallel, policy_name(engine.policy().kind()), budget_text,
                             eo.n_ctx);
  const bool ok = http.serve();
  if (!ok) {
    // The listener failed on its own: wake the signal thread so that everything stops.
    kill(getpid(), SIGTERM);
  }
  signals.join();
  std::cerr << "serve: stopped\n";
  if (!ok) fail("serve", "the HTTP listener stopped with an error", "check the address and port");
}

}  // namespace

void register_serve(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "an OpenAI-compatible HTTP server whose memory budget can change while it serves");
  cmd->footer(
      "Endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health, POST /tokenize, "
      "POST /detokenize, GET|POST /v1/memory (the budget while serving), GET /metrics (Prometheus), GET / (chat page); "
      "a vision model: POST /v1/classify (a PNG image or IDX images; ?top=K).");
  add_model_options(cmd, o->model, 2048);
  add_batch_options(cmd, o->model, "512, or 64 under a budget");
  add_budget_options(cmd, o->model);
  add_sampling_options(cmd, o->sampling, o->seed, o->seed_given);
  cmd->add_option("--host", o->host, "address to listen on (loopback by default; 0.0.0.0 for every interface)")->capture_default_str();
  cmd->add_option("--port", o->port, "port to listen on; 0 = any free port")->capture_default_str()->check(CLI::Range(0, 65535));
  cmd->add_option("--parallel", o->n_parallel, "sequences decoded together (-np), each with its own KV cache inside the budget")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--queue", o->queue, "requests that may wait for a sequence; more get 503 with Retry-After")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--api-key", o->api_key, "require 'Authorization: Bearer KEY' (off by default)");
  cmd->add_option("--alias", o->alias, "the model id clients see and name (default: the file name)");
  cmd->add_option("--chat-template", o->chat_template, "a Jinja template file or a built-in (chatml, llama3, gemma) instead of the model's");
  cmd->add_option("--memory-reserve", o->memory_reserve, "with --memory-budget auto: memory left free for everything else")
      ->capture_default_str();
  cmd->add_option("-n,--n-predict", o->n_predict, "default max_tokens of a request; -1 = until the end of text or a full context")
      ->capture_default_str()
      ->check(CLI::Range(-1, 1 << 24));
  cmd->add_option("--shutdown-grace", o->grace_seconds, "seconds that replies in flight may take to finish on SIGINT/SIGTERM")
      ->capture_default_str()
      ->check(finite_in(0, 3600));
  cmd->add_option("--image-batch", o->image_batch, "vision models: images evaluated together in one forward")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--body-limit", o->body_limit, "largest request body in bytes (413 beyond)")->capture_default_str()->check(CLI::Range(1024, 1 << 30));
  cmd->callback([o] { serve(*o); });
}

}  // namespace swapmoe::cli
