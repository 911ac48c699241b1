// `swapmoe classify` as a user meets it: IDX files with their labels beside them, PNG files, the
// stream orders, every policy under a budget, and clear errors for bad images and wrong models.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_test_util.h"
#include "vision/png_image.h"

namespace {

using swapmoe::cli_test::Result;
using swapmoe::cli_test::run;
namespace fs = std::filesystem;

void put_u32(std::string& s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

class CliClassifyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("swapmoe_classify_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    model_ = (dir_ / "vmoe.gguf").string();
    Result r = run("synth --preset tiny-vmoe --type q8_0 -t 1 -o " + model_);
    ASSERT_EQ(r.code, 0) << r.out;
    // 40 images of 28x28 with labels 0..9, as MNIST names its files.
    std::string images, labels;
    put_u32(images, 0x803), put_u32(images, kImages), put_u32(images, 28), put_u32(images, 28);
    put_u32(labels, 0x801), put_u32(labels, kImages);
    for (uint32_t i = 0; i < kImages; ++i) {
      for (uint32_t p = 0; p < 784; ++p) images.push_back(static_cast<char>(((i * 7919 + p * 104729) >> 3) & 0xff));
      labels.push_back(static_cast<char>(i % 10));
    }
    std::ofstream(dir_ / "tiny-images-idx3-ubyte", std::ios::binary) << images;
    std::ofstream(dir_ / "tiny-labels-idx1-ubyte", std::ios::binary) << labels;
    std::string bad = labels;
    bad.back() = 12;  // a class the model does not have
    std::ofstream(dir_ / "bad-labels-idx1-ubyte", std::ios::binary) << bad;
    std::ofstream(dir_ / "cut-images-idx3-ubyte", std::ios::binary) << images.substr(0, images.size() / 2);
    idx_ = (dir_ / "tiny-images-idx3-ubyte").string();
    for (int i = 0; i < 2; ++i)
      swapmoe::write_png((dir_ / ("image" + std::to_string(i) + ".png")).string(),
                         reinterpret_cast<const uint8_t*>(images.data()) + 16 + i * 784, 28, 28, 1);
    std::vector<uint8_t> small(20 * 20, 128);
    swapmoe::write_png((dir_ / "small.png").string(), small.data(), 20, 20, 1);
    std::ofstream(dir_ / "fake.png") << "not an image at all";
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static nlohmann::json json_of(const std::string& args) {
    Result r = run("classify -m " + model_ + " " + args + " --json -t 1", false);
    EXPECT_EQ(r.code, 0) << args << "\n" << r.out;
    return nlohmann::json::parse(r.last_stdout_line, nullptr, false);
  }

  static constexpr uint32_t kImages = 40;
  static inline fs::path dir_;
  static inline std::string model_, idx_;
};

TEST_F(CliClassifyTest, LabelsEveryImageAndScoresAgainstTheLabelsBesideTheFile) {
  Result r = run("classify -m " + model_ + " " + idx_ + " --top 3 -t 1", false);
  ASSERT_EQ(r.code, 0) << r.out;
  int lines = 0;
  for (size_t at = 0; (at = r.out.find("tiny-images-idx3-ubyte#", at)) != std::string::npos; ++at) ++lines;
  EXPECT_EQ(lines, static_cast<int>(kImages));
  EXPECT_NE(r.out.find("class "), std::string::npos) << r.out;
  const nlohmann::json j = json_of(idx_ + " --summary-only");
  EXPECT_EQ(j["images"], kImages);
  for (const char* key : {"accuracy", "correct", "images_per_s", "hit_rate", "fidelity", "accounted_bytes", "policy"})
    EXPECT_TRUE(j.contains(key)) << key << " " << j.dump();
}

TEST_F(CliClassifyTest, TheFullModelsLogitsDoNotDependOnTheOrderOrTheBatch) {
  auto logits = [&](const std::string& args) {
    const std::string out = (dir_ / "logits.bin").string();
    EXPECT_EQ(run("classify -m " + model_ + " " + idx_ + " --summary-only -t 1 --dump-logits " + out + " " + args).code, 0);
    std::ifstream f(out, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  // Batches of other sizes may take other kernel tiles (the same products, summed in another
  // order on some CPUs): equal up to float rounding.
  auto expect_same = [](const std::string& got, const std::string& want, const char* what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    const auto* a = reinterpret_cast<const float*>(got.data());
    const auto* b = reinterpret_cast<const float*>(want.data());
    for (size_t i = 0; i < want.size() / sizeof(float); ++i) ASSERT_NEAR(a[i], b[i], 1e-4f) << what << " at " << i;
  };
  const std::string file = logits("");
  EXPECT_EQ(file.size(), kImages * 10 * sizeof(float));
  expect_same(logits("--order runs:4 --image-batch 3"), file, "runs:4, batches of 3");
  expect_same(logits("--order shuffled --seed 9 --image-batch 1"), file, "shuffled, one image a batch");
  // An exact policy under a budget reads experts on demand: the same logits.
  expect_same(logits("--policy ondemand --expert-budget 25%"), file, "ondemand at 25%");
  // With --limit, the images the stream reached, still in the file's order.
  const std::string some = logits("--order shuffled --limit 7");
  EXPECT_EQ(some.size(), 7 * 10 * sizeof(float));
}

TEST_F(CliClassifyTest, EveryPolicyRunsUnderABudget) {
  for (const char* policy : {"swapmoe", "prune", "cache", "ondemand"}) {
    const nlohmann::json j = json_of(idx_ + std::string(" --summary-only --order runs:5 --expert-budget 50% --policy ") + policy);
    EXPECT_EQ(j["policy"], policy);
    EXPECT_LE(j["accounted_bytes"].get<uint64_t>(), j["memory_budget_bytes"].get<uint64_t>()) << policy;
  }
}

// The planner on a vision model: calibration on labelled images (the labels' perplexity), a plan
// for a budget, and classify under it.
TEST_F(CliClassifyTest, ProfileThenPlanThenClassifyUnderThePlan) {
  const std::string profile = (dir_ / "vmoe.profile.json").string(), plan = (dir_ / "vmoe.plan.json").string();
  Result r = run("profile -m " + model_ + " -t 1 --calibration " + idx_ + " --calibration-images 16 --configs 24 "
                 "--quality-seconds 60 -o " + profile);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("16 x 50 tokens"), std::string::npos) << r.out;  // 16 images of 50 tokens a run
  r = run("plan -m " + model_ + " --profile " + profile + " --expert-budget 50% -o " + plan);
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json j = json_of(idx_ + " --summary-only --expert-budget 50% --plan " + plan);
  EXPECT_EQ(j["plan"], plan);
  EXPECT_EQ(j["images"], kImages);
  // Calibration images without labels beside them are refused, naming what is missing.
  r = run("profile -m " + model_ + " -t 1 --calibration " + (dir_ / "cut-images-idx3-ubyte").string() + " -o " + profile);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("no labels file"), std::string::npos) << r.out;
}

TEST_F(CliClassifyTest, PngFilesAreClassifiedLikeTheSameImagesInAnIdxFile) {
  Result idx = run("classify -m " + model_ + " " + idx_ + " --limit 2 -t 1", false);
  Result png = run("classify -m " + model_ + " " + (dir_ / "image0.png").string() + " " +
                   (dir_ / "image1.png").string() + " -t 1", false);
  ASSERT_EQ(png.code, 0) << png.out;
  auto labels = [](const std::string& out) {  // the third column of each line
    std::vector<std::string> v;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
      const size_t a = line.find('\t'), b = line.find('\t', a + 1);
      v.push_back(line.substr(b + 1, line.find('\t', b + 1) - b - 1));
    }
    return v;
  };
  EXPECT_EQ(labels(png.out), labels(idx.out));
}

TEST_F(CliClassifyTest, BadImagesAndWrongModelsAreClearErrors) {
  const struct {
    std::string args, expect;
  } cases[] = {
      {(dir_ / "cut-images-idx3-ubyte").string(), "truncated"},
      {(dir_ / "small.png").string(), "20"},
      {(dir_ / "fake.png").string(), "fake.png"},
      {"/nonexistent/images-idx3-ubyte", "/nonexistent/images-idx3-ubyte"},
      {idx_ + " --order sideways", "runs:N"},
      {idx_ + " --labels " + (dir_ / "bad-labels-idx1-ubyte").string(), "class 12"},
  };
  for (const auto& c : cases) {
    Result r = run("classify -m " + model_ + " " + c.args);
    EXPECT_EQ(r.code, 1) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find("error:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(c.expect), std::string::npos) << c.args << "\n" << r.out;
  }
  // A vision model given to run, and a text model given to classify, say which command to use.
  Result r = run("run -m " + model_ + " -p hello -n 2");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("swapmoe classify"), std::string::npos) << r.out;
  const std::string text = (dir_ / "text.gguf").string();
  ASSERT_EQ(run("synth --preset tiny -t 1 -o " + text).code, 0);
  r = run("classify -m " + text + " " + idx_);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("swapmoe run"), std::string::npos) << r.out;
}

}  // namespace
