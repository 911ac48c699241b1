// Storage faults on other threads: a read that fails inside a thread-pool job or on the loader
// thread reaches the caller as a swapmoe::Error carrying the cause, at any thread count.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "experts/expert_loader.h"
#include "experts/expert_magnitudes.h"
#include "experts/expert_store.h"
#include "io/direct_reader.h"
#include "io/fault_injecting_reader.h"
#include "model/synth_model.h"

namespace swapmoe {
namespace {

constexpr const char* kInjected = "injected failure";

// One small MoE model for the suite: 8 experts, 2 layers, q8_0.
class ExpertFaultsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SynthSpec s = synth_preset("tiny");
    s.type = GgmlType::Q8_0;
    path_ = (std::filesystem::temp_directory_path() / ("swapmoe_faults_" + std::to_string(::getpid()) + ".gguf"))
                .string();
    write_synth_model(s, path_, 2);
    model_ = Model::load(path_, DenseWeights::OWNED);
  }
  static void TearDownTestSuite() {
    model_.reset();
    std::filesystem::remove(path_);
    std::filesystem::remove(path_ + ".expert-norms");
  }
  void SetUp() override { std::filesystem::remove(path_ + ".expert-norms"); }

  static int first_moe_layer() {
    for (size_t l = 0; l < model_->layers.size(); ++l)
      if (model_->layers[l].is_moe) return static_cast<int>(l);
    return -1;
  }

  // Makes every read of expert `e` of `layer` fail (its down matrix, so the read fails midway).
  static void fail_expert(FaultInjectingReader& r, int layer, int e) {
    const ExpertFileRanges x = model_->layers[layer].expert_ranges(e);
    r.fail_range(x.offset[2], x.n_bytes[2]);
  }

  static void expect_injected(const Error& e, const std::string& expert) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(kInjected), std::string::npos) << msg;
    EXPECT_NE(msg.find(expert), std::string::npos) << msg;
  }

  static std::string path_;
  static std::unique_ptr<Model> model_;
};
std::string ExpertFaultsTest::path_;
std::unique_ptr<Model> ExpertFaultsTest::model_;

// compute_expert_magnitudes splits experts round-robin over the pool (job j on thread j % nth),
// so expert 1 of the first MoE layer is read by a worker at 2 threads and by the caller at 1.
TEST_F(ExpertFaultsTest, AReadFailingInsideAPoolJobIsAnErrorAtAnyThreadCount) {
  const int layer = first_moe_layer();
  ASSERT_GE(layer, 0);
  DirectFileReader inner(path_);
  const std::vector<std::vector<float>> want = [&] {
    ExpertStore good(*model_, inner);
    ThreadPool pool(1);
    return compute_expert_magnitudes(good, pool);
  }();
  for (int n : {1, 2}) {
    FaultInjectingReader bad(inner);
    ExpertStore store(*model_, bad);
    ThreadPool pool(n);
    fail_expert(bad, layer, 1);
    try {
      compute_expert_magnitudes(store, pool);
      FAIL() << "no error at " << n << " threads";
    } catch (const Error& e) {
      expect_injected(e, "expert 1 of layer " + std::to_string(layer));
    }
    // The same pool and store work once the storage recovers.
    bad.fail_range(0, 0);
    EXPECT_EQ(compute_expert_magnitudes(store, pool), want) << n << " threads";
  }
}

TEST_F(ExpertFaultsTest, EveryReadFailingOnEveryThreadIsOneError) {
  for (int n : {1, 2}) {
    DirectFileReader inner(path_);
    FaultInjectingReader bad(inner);
    bad.fail_from_call(0);
    ExpertStore store(*model_, bad);
    ThreadPool pool(n);
    try {
      compute_expert_magnitudes(store, pool);
      FAIL() << "no error at " << n << " threads";
    } catch (const Error& e) {
      expect_injected(e, "failed");
    }
  }
}

TEST_F(ExpertFaultsTest, TheCachedMagnitudesFailTheSameWayAndWriteNoCache) {
  const int layer = first_moe_layer();
  for (int n : {1, 2}) {
    DirectFileReader inner(path_);
    FaultInjectingReader bad(inner);
    fail_expert(bad, layer, 1);
    ExpertStore store(*model_, bad);
    ThreadPool pool(n);
    try {
      expert_magnitudes(store, pool);
      FAIL() << "no error at " << n << " threads";
    } catch (const Error& e) {
      expect_injected(e, "expert 1 of layer " + std::to_string(layer));
    }
    EXPECT_FALSE(std::filesystem::exists(path_ + ".expert-norms")) << "a failed computation was cached";
  }
}

TEST_F(ExpertFaultsTest, TheLoaderThreadReportsAFailedReadInItsResult) {
  const int layer = first_moe_layer();
  DirectFileReader inner(path_);
  FaultInjectingReader bad(inner);
  fail_expert(bad, layer, 1);
  ExpertStore store(*model_, bad);
  AlignedBuffer a(store.buffer_bytes(), 4096), b(store.buffer_bytes(), 4096);
  ExpertLoader loader(store);
  loader.submit({layer, 1, a.data()});
  loader.submit({layer, 2, b.data()});
  loader.wait_idle();
  LoadResult r;
  ASSERT_TRUE(loader.poll(&r));
  EXPECT_EQ(r.request.expert, 1);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find(kInjected), std::string::npos) << r.error;
  ASSERT_TRUE(loader.poll(&r));
  EXPECT_EQ(r.request.expert, 2);
  EXPECT_TRUE(r.ok) << r.error;  // the loader thread survived the failure
  EXPECT_EQ(loader.in_flight(), 0);
}

// A reader that breaks the ByteRangeReader contract by throwing something that is not a
// std::exception: the loader thread must still report it rather than take the process down.
class NonStdThrowingReader final : public ByteRangeReader {
 public:
  explicit NonStdThrowingReader(ByteRangeReader& inner) : inner_(inner) {}
  void read(uint64_t, uint64_t, uint8_t*) override { throw 42; }
  uint64_t size() const override { return inner_.size(); }
  const std::string& path() const override { return inner_.path(); }

 private:
  ByteRangeReader& inner_;
};

TEST_F(ExpertFaultsTest, TheLoaderThreadReportsAnExceptionOfAnyType) {
  DirectFileReader inner(path_);
  NonStdThrowingReader odd(inner);
  ExpertStore store(*model_, odd);
  AlignedBuffer a(store.buffer_bytes(), 4096);
  ExpertLoader loader(store);
  loader.submit({first_moe_layer(), 0, a.data()});
  loader.wait_idle();
  LoadResult r;
  ASSERT_TRUE(loader.poll(&r));
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.error.empty());
}

}  // namespace
}  // namespace swapmoe
