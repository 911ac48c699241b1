// POST /v1/classify on a vision model, in process over a loopback port: IDX and PNG bodies, top-k,
// a budget change between requests, and 4xx answers for bad images and for the wrong kind of
// request (text on a vision server, images on a text server).
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "model/synth_model.h"
#include "runtime/image_classifier.h"
#include "server/budget_control.h"
#include "server/classify_endpoint.h"
#include "server/http_server.h"
#include "server/scheduler.h"
#include "vision/png_image.h"

namespace swapmoe::server {
namespace {

using nlohmann::json;

std::string synth(const char* preset, const std::string& tag) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("swapmoe_classify_srv_" + tag + std::to_string(::getpid()) + ".gguf")).string();
  SynthSpec s = synth_preset(preset);
  s.type = GgmlType::Q8_0;
  write_synth_model(s, path, 2);
  return path;
}

// n images of 28x28 as an IDX body (and their bytes).
std::string idx_body(uint32_t n, std::vector<uint8_t>* pixels) {
  std::string s;
  for (uint32_t v : {0x803u, n, 28u, 28u})
    for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  for (uint32_t i = 0; i < n * 784; ++i) {
    const uint8_t p = static_cast<uint8_t>(((i * 2654435761u) >> 11) & 0xff);
    s.push_back(static_cast<char>(p));
    pixels->push_back(p);
  }
  return s;
}

struct VisionServer {
  explicit VisionServer(const std::string& model, const char* policy = "swapmoe") {
    EngineOptions eo;
    eo.model_path = model;
    eo.n_threads = 2;
    eo.policy = policy;
    eo.budget = Budget::experts("50%");
    engine = std::make_unique<Engine>(vision_engine_options(eo, 4));
    scheduler = std::make_unique<Scheduler>(*engine, SchedulerOptions{1, 8}, metrics);
    control = std::make_unique<BudgetControl>(*scheduler, metrics, true);
    classifier = std::make_unique<ImageClassifier>(*engine);
    endpoint = std::make_unique<ClassifyEndpoint>(*scheduler, *classifier, metrics, "vmoe");
    HttpOptions h;
    h.port = 0;
    h.model_id = "vmoe";
    h.classify = endpoint.get();
    http = std::make_unique<HttpServer>(*scheduler, *engine, metrics, *control, h);
    port = http->bind();
    thread = std::thread([this] { http->serve(); });
  }
  ~VisionServer() {
    scheduler->shutdown(std::chrono::milliseconds(0));
    http->stop();
    thread.join();
  }
  httplib::Result post(const std::string& path, const std::string& body, const char* type = "application/octet-stream") {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60);
    return c.Post(path, body, type);
  }

  ServerMetrics metrics;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Scheduler> scheduler;
  std::unique_ptr<BudgetControl> control;
  std::unique_ptr<ImageClassifier> classifier;
  std::unique_ptr<ClassifyEndpoint> endpoint;
  std::unique_ptr<HttpServer> http;
  int port = 0;
  std::thread thread;
};

class ClassifyServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { model_ = synth("tiny-vmoe", "v"); }
  static void TearDownTestSuite() {
    std::filesystem::remove(model_);
    std::filesystem::remove(model_ + ".expert-norms");
  }
  static inline std::string model_;
};

TEST_F(ClassifyServerTest, IdxAndPngBodiesGetTheEnginesLabels) {
  VisionServer s(model_, "ondemand");  // exact: the answer cannot depend on what an earlier request left resident
  std::vector<uint8_t> pixels;
  const std::string body = idx_body(5, &pixels);
  auto res = s.post("/v1/classify?top=3", body);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json j = json::parse(res->body);
  ASSERT_EQ(j["data"].size(), 5u);
  EXPECT_EQ(j["usage"]["images"], 5);
  EXPECT_EQ(j["usage"]["tokens"], 5 * 50);
  for (const json& d : j["data"]) {
    ASSERT_EQ(d["top"].size(), 3u);
    EXPECT_EQ(d["top"][0]["class"], d["class"]);
    EXPECT_GE(d["top"][0]["probability"].get<double>(), d["top"][1]["probability"].get<double>());
    EXPECT_EQ(d["label"], "class " + std::to_string(d["class"].get<int>()));
  }
  // The same image as a PNG gets the same answer.
  const std::vector<uint8_t> png = encode_png(pixels.data(), 28, 28, 1);
  res = s.post("/v1/classify", std::string(png.begin(), png.end()), "image/png");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["data"][0]["class"], j["data"][0]["class"]);
  EXPECT_EQ(s.metrics.images_classified.load(), 6u);
}

TEST_F(ClassifyServerTest, TheBudgetChangesBetweenRequests) {
  VisionServer s(model_);
  std::vector<uint8_t> pixels;
  const std::string body = idx_body(16, &pixels);
  ASSERT_EQ(s.post("/v1/classify", body)->status, 200);
  const uint64_t start = s.engine->memory_budget();
  EXPECT_EQ(s.engine->policy().slots(), (std::vector<int>{0, 4, 0, 4}));
  for (const auto& [budget, slots] : {std::pair{s.engine->minimum_budget(), std::vector<int>{0, 1, 0, 1}},
                                      std::pair{start, std::vector<int>{0, 4, 0, 4}}}) {
    auto res = s.post("/v1/memory", json{{"budget", budget}}.dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    EXPECT_EQ(s.engine->policy().slots(), slots);
    EXPECT_LE(s.engine->memory_account().total(), budget);
    ASSERT_EQ(s.post("/v1/classify", body)->status, 200);
  }
}

TEST_F(ClassifyServerTest, BadImagesAndTextRequestsAreClientErrors) {
  VisionServer s(model_);
  std::vector<uint8_t> small(20 * 20, 9);
  const std::vector<uint8_t> png = encode_png(small.data(), 20, 20, 1);
  std::vector<uint8_t> pixels;
  const std::string idx = idx_body(4, &pixels);
  const struct {
    std::string path, body, expect;
  } cases[] = {
      {"/v1/classify", "", "empty"},
      {"/v1/classify", "hello world", "IDX"},
      {"/v1/classify", std::string(png.begin(), png.end()), "20"},
      {"/v1/classify", idx.substr(0, idx.size() - 100), "truncated"},
      {"/v1/classify?top=zero", idx, "top"},
      {"/v1/completions", R"({"prompt": "hi"})", "/v1/classify"},
      {"/tokenize", R"({"content": "hi"})", "/v1/classify"},
  };
  for (const auto& c : cases) {
    auto res = s.post(c.path, c.body);
    ASSERT_TRUE(res) << c.path;
    EXPECT_EQ(res->status, 400) << c.path << " " << res->body;
    EXPECT_NE(res->body.find(c.expect), std::string::npos) << c.path << " " << res->body;
  }
  auto health = httplib::Client("127.0.0.1", s.port).Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST(ClassifyOnATextServer, IsRefusedNamingTheTextEndpoints) {
  const std::string text = synth("tiny", "t");
  EngineOptions eo;
  eo.model_path = text;
  eo.n_threads = 1;
  Engine engine(eo);
  ServerMetrics metrics;
  Scheduler scheduler(engine, {1, 4}, metrics);
  BudgetControl control(scheduler, metrics, false);
  HttpOptions h;
  h.port = 0;
  HttpServer http(scheduler, engine, metrics, control, h);
  const int port = http.bind();
  std::thread t([&] { http.serve(); });
  auto res = httplib::Client("127.0.0.1", port).Post("/v1/classify", "x", "image/png");
  scheduler.shutdown(std::chrono::milliseconds(0));
  http.stop();
  t.join();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("/v1/chat/completions"), std::string::npos) << res->body;
  std::filesystem::remove(text);
}

}  // namespace
}  // namespace swapmoe::server
