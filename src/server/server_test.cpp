// swapmoe serve, in process: the HTTP server on a loopback port over the shipped model, driven
// with an HTTP client. Replies, streams, batching across sequences, the prompt cache, budget
// changes while streaming, cancellation, the queue bound, errors and shutdown.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

#include <nlohmann/json.hpp>

#include "runtime/chat_format.h"
#include "runtime/generation.h"
#include "server/budget_control.h"
#include "server/http_server.h"
#include "server/scheduler.h"

namespace swapmoe::server {
namespace {

using nlohmann::json;
const std::string kModel = std::string(SWAPMOE_MODELS_DIR) + "/shakespeare-moe.gguf";

struct TestServer {
  explicit TestServer(int n_parallel = 2, const std::string& budget = "75%", int queue = 8, std::string api_key = "") {
    EngineOptions eo;
    eo.model_path = kModel;
    eo.n_threads = 2;
    eo.n_ctx = 256;
    eo.n_sessions = n_parallel;
    if (!budget.empty()) eo.policy = "swapmoe", eo.budget = Budget::parse(budget);
    engine = std::make_unique<Engine>(eo);
    scheduler = std::make_unique<Scheduler>(*engine, SchedulerOptions{n_parallel, queue}, metrics);
    control = std::make_unique<BudgetControl>(*scheduler, metrics, !budget.empty());
    HttpOptions h;
    h.port = 0;
    h.api_key = std::move(api_key);
    h.model_id = "shakespeare-moe.gguf";
    h.sampling.temperature = 0;  // greedy unless a request says otherwise
    h.chat = std::make_shared<const ChatFormat>(chat_format_for(engine->model().file(), ""));
    h.body_limit = 64 * 1024;
    h.http_threads = 16;
    http = std::make_unique<HttpServer>(*scheduler, *engine, metrics, *control, h);
    port = http->bind();
    thread = std::thread([this] { http->serve(); });
  }
  ~TestServer() {
    scheduler->shutdown(std::chrono::milliseconds(0));
    http->stop();
    thread.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60);
    return c;
  }
  json post(const std::string& path, const json& body, int* status = nullptr) const {
    auto res = client().Post(path, body.dump(), "application/json");
    EXPECT_TRUE(res) << path;
    if (!res) return {};
    if (status) *status = res->status;
    return json::parse(res->body);
  }
  json get(const std::string& path) const {
    auto res = client().Get(path);
    EXPECT_TRUE(res && res->status == 200) << path;
    return res ? json::parse(res->body) : json();
  }

  ServerMetrics metrics;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Scheduler> scheduler;
  std::unique_ptr<BudgetControl> control;
  std::unique_ptr<HttpServer> http;
  int port = 0;
  std::thread thread;
};

// The data: payloads of a server-sent event stream.
std::vector<std::string> sse_payloads(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find("\n\n", pos);
    out.push_back(body.substr(pos + 6, end - pos - 6));
    pos = end;
  }
  return out;
}

json completion(const std::string& prompt, int max_tokens) {
  return {{"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}};
}

TEST(Server, HealthModelsAndTokenizer) {
  TestServer s;
  EXPECT_EQ(s.get("/health")["status"], "ok");
  const json models = s.get("/v1/models");
  EXPECT_EQ(models["data"][0]["id"], "shakespeare-moe.gguf");
  const json tokens = s.post("/tokenize", {{"content", "ROMEO: hello"}});
  ASSERT_TRUE(tokens["tokens"].is_array());
  EXPECT_EQ(s.post("/detokenize", tokens)["content"], "ROMEO: hello");
  auto page = s.client().Get("/");
  ASSERT_TRUE(page);
  EXPECT_NE(page->body.find("<html"), std::string::npos);
}

TEST(Server, CompletionMatchesTheSameGreedyRunAndCountsUsage) {
  TestServer s(1, "");  // the full model: deterministic
  const json r = s.post("/v1/completions", completion("ROMEO:", 24));
  EXPECT_EQ(r["object"], "text_completion");
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r["usage"]["completion_tokens"], 24);
  EXPECT_EQ(r["usage"]["total_tokens"], r["usage"]["prompt_tokens"].get<int>() + 24);
  // The same prompt through the library's own generation loop.
  Engine engine([] {
    EngineOptions eo;
    eo.model_path = kModel;
    eo.n_threads = 1;
    eo.n_ctx = 256;
    return eo;
  }());
  GenerationSettings g;
  g.n_predict = 24;
  SamplerParams greedy;
  greedy.temperature = 0;
  EXPECT_EQ(r["choices"][0]["text"], generate(engine, "ROMEO:", g, greedy).text);
}

TEST(Server, ChatStreamsRoleContentAndFinish) {
  TestServer s;
  json body = {{"messages", {{{"role", "user"}, {"content", "Speak, friend."}}}},
               {"max_tokens", 12},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  auto res = s.client().Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  const auto events = sse_payloads(res->body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  const json first = json::parse(events[0]);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  const json usage = json::parse(events[events.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 12);
  const json finish = json::parse(events[events.size() - 3]);
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "length");
}

// Two sequences decoded in one batch give each the text it gets alone (greedy, full model).
TEST(Server, ParallelSequencesMatchTheirSoloReplies) {
  TestServer s(3, "");
  const std::vector<std::string> prompts = {"ROMEO:", "JULIET:\nO", "First Citizen:\nWe"};
  std::vector<std::string> solo;
  for (const auto& p : prompts) solo.push_back(s.post("/v1/completions", completion(p, 40))["choices"][0]["text"]);
  const uint64_t steps_before = s.metrics.decode_steps, tokens_before = s.metrics.decode_step_tokens;
  std::vector<std::future<json>> together;
  for (const auto& p : prompts)
    together.push_back(std::async(std::launch::async, [&s, p] { return s.post("/v1/completions", completion(p, 40)); }));
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(together[i].get()["choices"][0]["text"], solo[i]) << prompts[i];
  const double per_step = double(s.metrics.decode_step_tokens - tokens_before) / double(s.metrics.decode_steps - steps_before);
  EXPECT_GT(per_step, 1.3) << "decode steps should carry several sequences at once";
}

// A request that arrives while another decodes has its prompt evaluated in the other's decode
// steps, not in forwards of its own; its reply is still the one it gets alone.
TEST(Server, ANewPromptRidesAlongTheDecodeSteps) {
  TestServer s(2, "");
  const json alone = s.post("/v1/completions", completion("JULIET:\nO", 20));
  const uint64_t forwards = s.metrics.forwards, steps = s.metrics.decode_steps;  // idle: a consistent pair
  json long_reply = completion("ROMEO:", 220);
  long_reply["ignore_eos"] = true;
  auto first = std::async(std::launch::async, [&] { return s.post("/v1/completions", long_reply); });
  while (s.metrics.decode_steps == steps) std::this_thread::yield();  // the first reply decodes
  const json second = s.post("/v1/completions", completion("JULIET:\nO", 20));
  EXPECT_EQ(first.get()["usage"]["completion_tokens"], 220);
  EXPECT_EQ(second["choices"][0]["text"], alone["choices"][0]["text"]);
  // Idle again. Forwards without a decode token: the first reply's prompt only.
  EXPECT_EQ(s.metrics.forwards - forwards, s.metrics.decode_steps - steps + 1);
}

TEST(Server, PromptCacheReusesTheConversationPrefix) {
  TestServer s(1, "");
  const json first = s.post("/v1/completions", completion("KING RICHARD III:\nNow is the winter", 8));
  const std::string text = "KING RICHARD III:\nNow is the winter" + first["choices"][0]["text"].get<std::string>();
  const uint64_t cached_before = s.metrics.prompt_tokens_cached;
  s.post("/v1/completions", completion(text + " and", 8));
  EXPECT_GT(s.metrics.prompt_tokens_cached - cached_before, 8u);
}

TEST(Server, BudgetChangesWhileStreaming) {
  TestServer s(2, "90%");
  const json before = s.get("/v1/memory");
  EXPECT_EQ(before["policy"], "swapmoe");
  std::atomic<bool> done{false};
  std::vector<std::future<json>> streams;
  for (int i = 0; i < 2; ++i)
    streams.push_back(std::async(std::launch::async, [&] {
      json body = completion("ROMEO:", 120);
      body["stream"] = true;
      auto res = s.client().Post("/v1/completions", body.dump(), "application/json");
      return json{{"status", res ? res->status : -1}, {"events", res ? sse_payloads(res->body) : std::vector<std::string>{}}};
    }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  int status = 0;
  const json lower = s.post("/v1/memory", {{"budget", "60%"}}, &status);
  EXPECT_EQ(status, 200);
  EXPECT_LT(lower["budget_bytes"].get<uint64_t>(), before["budget_bytes"].get<uint64_t>());
  EXPECT_LE(lower["accounted_bytes"].get<uint64_t>(), lower["budget_bytes"].get<uint64_t>());
  const json higher = s.post("/v1/memory", {{"budget", "100%"}}, &status);
  EXPECT_EQ(status, 200);
  EXPECT_GT(higher["slots_per_layer"][0].get<int>(), lower["slots_per_layer"][0].get<int>());
  for (auto& f : streams) {
    const json r = f.get();
    EXPECT_EQ(r["status"], 200);
    EXPECT_EQ(r["events"].back(), "[DONE]");
  }
  const json tiny = s.post("/v1/memory", {{"budget", "1M"}}, &status);
  EXPECT_EQ(status, 422);
  EXPECT_GT(tiny["error"]["minimum_budget_bytes"].get<uint64_t>(), 1u << 20);
  EXPECT_EQ(s.get("/v1/memory")["budget_bytes"], higher["budget_bytes"]) << "a refused budget changes nothing";
}

TEST(Server, FullModelBudgetCannotChange) {
  TestServer s(1, "");
  int status = 0;
  const json r = s.post("/v1/memory", {{"budget", "50%"}}, &status);
  EXPECT_EQ(status, 409);
  EXPECT_NE(r["error"]["message"].get<std::string>().find("--memory-budget"), std::string::npos);
}

TEST(Server, ClientThatLeavesMidStreamFreesItsSequence) {
  TestServer s(1, "");
  {
    httplib::Client c("127.0.0.1", s.port);
    int chunks = 0;
    json body = completion("ROMEO:", 200);
    body["stream"] = true;
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 3; };  // hang up
    c.send(req);
  }
  // The only sequence is free again well before 200 tokens would have taken.
  const json r = s.post("/v1/completions", completion("JULIET:", 4));
  EXPECT_EQ(r["usage"]["completion_tokens"], 4);
  for (int i = 0; i < 100 && s.metrics.requests_cancelled == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(s.metrics.requests_cancelled, 1u);
}

TEST(Server, BadRequestsGetOpenAiErrors) {
  TestServer s(1, "75%", 8, "");
  auto expect_error = [&](const std::string& path, const std::string& body, int status, const std::string& param) {
    auto res = s.client().Post(path, body, "application/json");
    ASSERT_TRUE(res) << body;
    EXPECT_EQ(res->status, status) << body << " -> " << res->body;
    const json e = json::parse(res->body);
    ASSERT_TRUE(e.contains("error")) << res->body;
    EXPECT_FALSE(e["error"]["message"].get<std::string>().empty());
    if (!param.empty()) {
      EXPECT_EQ(e["error"]["param"], param) << res->body;
    }
  };
  expect_error("/v1/chat/completions", "{not json", 400, "");
  expect_error("/v1/chat/completions", R"({"messages": "hi"})", 400, "messages");
  expect_error("/v1/completions", R"({"prompt": "x", "max_tokens": 0})", 400, "max_tokens");
  expect_error("/v1/completions", R"({"prompt": "x", "temperature": "hot"})", 400, "temperature");
  expect_error("/v1/completions", R"({"prompt": "x", "model": "gpt-4"})", 404, "model");
  std::string long_prompt;
  for (int i = 0; i < 400; ++i) long_prompt += "ROMEO: ";
  expect_error("/v1/completions", json{{"prompt", long_prompt}}.dump(), 400, "prompt");
  expect_error("/v1/completions", json{{"prompt", std::string(100 * 1024, 'a')}}.dump(), 413, "");
  expect_error("/v1/nothing", "{}", 404, "");
  expect_error("/v1/memory", R"({"budget": "lots"})", 400, "budget");
  EXPECT_EQ(s.get("/health")["status"], "ok") << "still serving";
}

TEST(Server, ApiKeyGuardsTheApiButNotThePage) {
  TestServer s(1, "75%", 8, "sekret");
  EXPECT_EQ(s.client().Get("/health")->status, 200);
  EXPECT_EQ(s.client().Get("/")->status, 200);
  auto c = s.client();
  EXPECT_EQ(c.Get("/v1/models")->status, 401);
  c.set_bearer_token_auth("sekret");
  EXPECT_EQ(c.Get("/v1/models")->status, 200);
}

TEST(Server, QueueBeyondItsBoundAnswers503) {
  TestServer s(1, "", /*queue=*/1);
  std::vector<std::future<int>> calls;
  for (int i = 0; i < 6; ++i)
    calls.push_back(std::async(std::launch::async, [&s] {
      auto res = s.client().Post("/v1/completions", completion("ROMEO:", 60).dump(), "application/json");
      if (res && res->status == 503) {
        EXPECT_EQ(res->get_header_value("Retry-After"), "1");
      }
      return res ? res->status : -1;
    }));
  int ok = 0, busy = 0;
  for (auto& f : calls) (f.get() == 200 ? ok : busy)++;
  // One runs, one may wait (if the engine thread took the first from the queue in time), the
  // rest are turned away at once.
  EXPECT_GE(ok, 1);
  EXPECT_GE(busy, 1);
  EXPECT_EQ(ok + busy, 6);
}

TEST(Server, ShutdownFinishesRepliesInFlight) {
  TestServer s(1, "");
  // 200 tokens (never ending early) take long enough to be seen in flight on a busy machine;
  // the watch does not sleep between looks, or a short reply could start and finish unseen.
  json body = completion("ROMEO:", 200);
  body["ignore_eos"] = true;
  auto reply = std::async(std::launch::async, [&s, &body] { return s.post("/v1/completions", body); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (s.metrics.active == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_EQ(s.metrics.active, 1) << "the reply should be in flight";
  s.scheduler->shutdown(std::chrono::seconds(30));
  const json r = reply.get();
  EXPECT_EQ(r["usage"]["completion_tokens"], 200) << r.dump();
  int status = 0;
  s.post("/v1/completions", completion("ROMEO:", 3), &status);
  EXPECT_EQ(status, 503);
}

}  // namespace
}  // namespace swapmoe::server

namespace swapmoe::server {
namespace {

// A whole reply (no stream) is taken once, at its end: text pieces do not wake the taker.
TEST(ReplyChannel, AWholeReplyWakesTheTakerOnlyAtItsEnd) {
  for (bool whole : {false, true}) {
    ReplyChannel channel;
    if (whole) channel.wake_on_end_only();
    auto taken = std::async(std::launch::async, [&] { return channel.take(std::chrono::seconds(5)); });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the taker is waiting
    channel.push(ReplyEvent::piece("to be"));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    channel.push(ReplyEvent::end("stop", 3, 1));
    const std::vector<ReplyEvent> events = taken.get();
    // Streaming: woken by the piece alone. Whole: woken once, with the piece and the end.
    ASSERT_EQ(events.size(), whole ? 2u : 1u) << (whole ? "whole reply" : "stream");
    EXPECT_EQ(events[0].text, "to be");
    if (whole) {
      EXPECT_EQ(events[1].kind, ReplyEvent::END);
    }
  }
}

}  // namespace
}  // namespace swapmoe::server
