// The command line as a user meets it: help, bad flags, missing files, JSON output.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace {

struct Result {
  int code = -1;
  std::string out;  // stdout and stderr together
  std::string last_stdout_line;
};

Result run(const std::string& args, bool stderr_too = true) {
  const std::string cmd = std::string(SWAPMOE_BIN_DIR) + "/swapmoe " + args + (stderr_too ? " 2>&1" : " 2>/dev/null");
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::string trimmed = r.out;
  while (!trimmed.empty() && trimmed.back() == '\n') trimmed.pop_back();
  r.last_stdout_line = trimmed.substr(trimmed.find_last_of('\n') == std::string::npos ? 0 : trimmed.find_last_of('\n') + 1);
  return r;
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = (std::filesystem::temp_directory_path() / ("swapmoe_cli_" + std::to_string(::getpid()) + ".gguf")).string();
    Result r = run("synth --preset tiny --experts 8 --type q8_0 -t 1 -o " + model_);
    ASSERT_EQ(r.code, 0) << r.out;
  }
  static void TearDownTestSuite() {
    std::filesystem::remove(model_);
    std::filesystem::remove(model_ + ".expert-norms");
  }
  static std::string model_;
};
std::string CliTest::model_;

TEST_F(CliTest, HelpEverywhere) {
  for (const char* sub : {"", "run ", "perplexity ", "bench ", "synth "}) {
    Result r = run(std::string(sub) + "--help");
    EXPECT_EQ(r.code, 0) << sub;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << sub << r.out;
  }
}

TEST_F(CliTest, WrongFlagsAndMissingFilesAreClearErrors) {
  Result r = run("run --no-such-flag");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("no-such-flag"), std::string::npos) << r.out;

  r = run("run -m /nonexistent/model.gguf -p hi");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("does not exist"), std::string::npos) << r.out;

  r = run("perplexity -m " + model_ + " -f /nonexistent.txt");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("cannot open"), std::string::npos) << r.out;

  r = run("run -m " + model_ + " -p hi --memory-budget lots");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("lots"), std::string::npos) << r.out;

  r = run("run -m " + model_ + " -p hi --memory-budget 100K");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("minimum"), std::string::npos) << r.out;

  r = run("run -m " + model_ + " -p hi --policy magic --expert-budget 50%");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("unknown policy"), std::string::npos) << r.out;

  // A file that is not GGUF at all.
  const std::string junk = model_ + ".junk";
  std::ofstream(junk) << "this is not a model";
  r = run("run -m " + junk + " -p hi");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("error:"), std::string::npos) << r.out;
  std::filesystem::remove(junk);
}

TEST_F(CliTest, RunEndsWithJsonFigures) {
  Result r = run("run -m " + model_ + " -p \"hello world\" -n 12 --temp 0 -t 1 --json", false);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.last_stdout_line);
  for (const char* key : {"prompt_tokens_per_s", "gen_tokens_per_s", "peak_rss_bytes", "hit_rate", "fidelity", "stalls",
                          "bytes_read_per_token", "swaps", "p50_ms", "p99_ms"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["n_gen_tokens"].get<int>() + (j["stop_reason"] == "eos" ? 1 : 0) >= 1, true);
}

TEST_F(CliTest, GreedyRunsAreReproducibleAndPoliciesAgreeWhenExact) {
  Result a = run("run -m " + model_ + " -p \"to be\" -n 16 --temp 0 -t 1 --json", false);
  Result b = run("run -m " + model_ + " -p \"to be\" -n 16 --temp 0 -t 2 --json --policy ondemand --expert-budget 25%",
                 false);
  ASSERT_EQ(a.code, 0) << a.out;
  ASSERT_EQ(b.code, 0) << b.out;
  EXPECT_EQ(nlohmann::json::parse(a.last_stdout_line)["tokens"], nlohmann::json::parse(b.last_stdout_line)["tokens"]);
}

TEST_F(CliTest, PerplexityEndsWithJsonFigures) {
  const std::string text = model_ + ".txt";
  {
    std::ofstream t(text);
    for (int i = 0; i < 200; ++i) t << "the quick brown fox jumps over the lazy dog " << i << "\n";
  }
  Result r = run("perplexity -m " + model_ + " -f " + text + " -c 64 --chunks 3 -t 1 --json", false);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.last_stdout_line);
  EXPECT_GT(j["ppl"].get<double>(), 1.0);
  EXPECT_EQ(j["n_chunks"].get<int>(), 3);
  EXPECT_GT(j["n_tokens"].get<int>(), 0);
  std::filesystem::remove(text);
}

}  // namespace
