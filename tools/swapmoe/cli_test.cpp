// The command line as a user meets it: help, bad flags, missing files, JSON output.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_test_util.h"
#include "io/gguf.h"

namespace {

using swapmoe::cli_test::CliTest;
using swapmoe::cli_test::Result;
using swapmoe::GgufFile;
using swapmoe::GgufTensorInfo;
using swapmoe::cli_test::run;

TEST_F(CliTest, HelpEverywhere) {
  for (const char* sub : {"", "run ", "chat ", "perplexity ", "bench ", "synth ", "profile ", "plan ", "template "}) {
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

// 300 short lines: enough for a tiny calibration.
void write_calibration_text(const std::string& path) {
  std::ofstream t(path);
  for (int i = 0; i < 300; ++i) t << "what light through yonder window breaks " << i << "\n";
}

TEST_F(CliTest, ProfileThenPlanThenRunUnderThePlan) {
  const std::string text = model_ + ".calib.txt", profile = model_ + ".test-profile.json", plan = model_ + ".plan.json";
  write_calibration_text(text);
  Result r = run("profile -m " + model_ + " -o " + profile + " -t 1 -c 128 --calibration " + text +
                 " --calibration-ctx 32 --calibration-chunks 2 --configs 12 --quality-seconds 60");
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("plan -m " + model_ + " --profile " + profile + " --expert-budget 50% -c 128 -t 1 -o " + plan);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(std::ifstream(plan));
  EXPECT_FALSE(j["slots"].empty());
  r = run("run -m " + model_ + " -p hi -n 8 --temp 0 -t 1 -c 128 --expert-budget 50% --plan " + plan + " --json", false);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto out = nlohmann::json::parse(r.last_stdout_line);
  EXPECT_EQ(out["slots"], j["slots"]) << "the run did not apply the plan";
  EXPECT_LE(out["accounted_bytes"].get<uint64_t>(), out["memory_budget_bytes"].get<uint64_t>());
  // The uniform split `plan` reports for a byte budget is the split a run at that budget uses.
  // Budgets between this tiny model's minimum (~95% of its footprint) and the full model.
  for (const char* budget : {"96%", "97.5%", "99%"}) {
    r = run("plan -m " + model_ + " --profile " + profile + " --memory-budget " + budget + " -c 128 -t 1 --json", false);
    ASSERT_EQ(r.code, 0) << r.out;
    const auto planned = nlohmann::json::parse(r.last_stdout_line);
    r = run("run -m " + model_ + " -p hi -n 4 --temp 0 -t 1 -c 128 --memory-budget " + budget + " --plan uniform --json",
            false);
    ASSERT_EQ(r.code, 0) << r.out;
    const auto ran = nlohmann::json::parse(r.last_stdout_line);
    EXPECT_EQ(ran["slots"], planned["uniform_slots"]) << budget;
    EXPECT_EQ(ran["memory_budget_bytes"], planned["memory_budget_bytes"]) << budget;
  }
  for (const auto& f : {text, profile, plan}) std::filesystem::remove(f);
}

// A profile whose calibration cannot run in its time warns (exit 0), and a plan from it says it
// is the uniform split, with no predicted perplexity.
TEST_F(CliTest, ProfileWithoutCalibrationTimeWarnsAndPlanClaimsNoPrediction) {
  const std::string text = model_ + ".calib2.txt", profile = model_ + ".prior-profile.json", plan = model_ + ".prior-plan.json";
  write_calibration_text(text);
  Result r = run("profile -m " + model_ + " -o " + profile + " -t 1 -c 128 --calibration " + text +
                 " --quality-seconds 0.01");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("WARNING: profile calibration did not finish: skipped"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pass --quality-seconds "), std::string::npos) << r.out;
  const auto pj = nlohmann::json::parse(std::ifstream(profile));
  EXPECT_EQ(pj["quality"]["fitted"], false);
  EXPECT_EQ(pj["quality"]["status"], "skipped");

  r = run("plan -m " + model_ + " --profile " + profile + " --expert-budget 50% -c 128 -t 1 --json -o " + plan);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("no fitted quality model (profile calibration did not run: skipped"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("this plan is the uniform split, not a prediction"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("predicted ppl"), std::string::npos) << r.out;
  const auto out = nlohmann::json::parse(r.last_stdout_line);
  EXPECT_EQ(out["slots"], out["uniform_slots"]);
  EXPECT_TRUE(out["predicted_ppl"].is_null());
  const auto j = nlohmann::json::parse(std::ifstream(plan));
  EXPECT_EQ(j["quality_model"], "prior");
  EXPECT_TRUE(j["predicted_quality"].is_null());
  EXPECT_GT(j["exact_threshold"].get<double>(), 1.0);
  EXPECT_EQ(j["prefetch_depth"], 0);
  EXPECT_EQ(j["update_interval"], 8);
  // The run-time hook (a byte budget without --plan) finds the profile beside the model and
  // keeps the uniform split, saying why.
  std::filesystem::copy_file(profile, model_ + ".profile.json", std::filesystem::copy_options::overwrite_existing);
  r = run("run -m " + model_ + " -p hi -n 2 --temp 0 -t 1 -c 128 --memory-budget 97.5%");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("budget split: uniform (no fitted quality model"), std::string::npos) << r.out;
  for (const auto& f : {text, profile, plan, model_ + ".profile.json"}) std::filesystem::remove(f);
}

// A plan's exact threshold and prefetch depth apply unless the command line sets them.
TEST_F(CliTest, PlanKnobsApplyUnlessGivenOnTheCommandLine) {
  const std::string plan = model_ + ".knob-plan.json";
  std::ofstream(plan) << R"({"slots": [2, 2], "update_interval": 8, "exact_threshold": 0, "prefetch_depth": 1})";
  const std::string base = "run -m " + model_ + " -p \"to be or not to be\" -n 12 --temp 0 -t 1 --expert-budget 25% --plan " + plan;
  Result r = run(base + " --json", false);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.last_stdout_line);
  EXPECT_GT(j["prefetches"].get<int>(), 0) << "the plan's prefetch depth was not applied";
  EXPECT_GT(j["fetches"].get<int>(), 0) << "the plan's threshold 0 (every miss waits) was not applied";
  r = run(base + " --exact-threshold 2 --prefetch 0 --json", false);
  ASSERT_EQ(r.code, 0) << r.out;
  j = nlohmann::json::parse(r.last_stdout_line);
  EXPECT_EQ(j["prefetches"], 0);
  EXPECT_EQ(j["fetches"], 0);
  std::filesystem::remove(plan);
}

TEST_F(CliTest, BenchSweepWritesTableCsvJsonAndPlot) {
  const std::string text = model_ + ".sweep.txt", csv = model_ + ".csv", svg = model_ + ".svg";
  {
    std::ofstream t(text);
    for (int i = 0; i < 200; ++i) t << "now is the winter of our discontent " << i << "\n";
  }
  Result r = run("bench -m " + model_ + " --sweep --budgets 50% --budget-kind experts --policies full,prune,swapmoe" +
                 " --ppl-file " + text + " --ppl-ctx 32 --ppl-chunks 2 -p 16 -n 8 -r 1 -t 1 --csv " + csv + " --plot " + svg);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("swapmoe"), std::string::npos) << r.out;
  std::ifstream c(csv);
  std::string header;
  std::getline(c, header);
  EXPECT_NE(header.find("ppl"), std::string::npos) << header;
  std::ifstream p(svg);
  std::string svg_text((std::istreambuf_iterator<char>(p)), std::istreambuf_iterator<char>());
  EXPECT_NE(svg_text.find("<svg"), std::string::npos);
  for (const auto& f : {text, csv, svg}) std::filesystem::remove(f);
}

// bench prints decode's bytes a token and its share of the read bandwidth it measured itself.
TEST_F(CliTest, BenchReportsDecodeAgainstItsMeasuredRoofline) {
  Result r = run("bench -m " + model_ + " -p 8 -n 16 -r 1 -t 1 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("roofline: decode reads"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(r.last_stdout_line);
  // Every tensor in the file, less the routed experts a token does not use and all but one row
  // of the token embedding (this synth model has its own output head).
  const GgufFile f = GgufFile::open(model_);
  const auto n_expert = f.get_u64("llama.expert_count");
  const auto n_used = f.get_u64("llama.expert_used_count");
  uint64_t want = 0;
  for (const GgufTensorInfo& t : f.tensors()) {
    if (t.name.find("_exps.") != std::string::npos) want += t.n_bytes / n_expert * n_used;
    else if (t.name == "token_embd.weight") want += t.n_bytes / static_cast<uint64_t>(t.ne[1]);
    else want += t.n_bytes;
  }
  ASSERT_NE(f.find_tensor("output.weight"), nullptr);
  EXPECT_EQ(j["weight_bytes_per_token"].get<uint64_t>(), want);
  EXPECT_GT(j["weights_read_gb_per_s"].get<double>(), 0.1);
  EXPECT_NEAR(j["roofline_share"].get<double>(),
              j["decode_read_gb_per_s"].get<double>() / j["weights_read_gb_per_s"].get<double>(), 1e-9);
  // A batched decode of several sequences reads a union of experts: no single figure, none printed.
  r = run("bench -m " + model_ + " -p 0 -n 4 -r 1 -t 1 --parallel 2 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("roofline:"), std::string::npos) << r.out;
}

// -d N: the tests start from a context of N tokens, labelled as llama-bench labels them.
TEST_F(CliTest, BenchDepthFillsTheContextFirst) {
  Result r = run("bench -m " + model_ + " -p 8 -n 4 -d 24 -r 1 -t 1 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("| pp8 @ d24 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| tg4 @ d24 |"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(r.last_stdout_line);
  EXPECT_EQ(j["n_depth"].get<int>(), 24);
  EXPECT_GT(j["gen_tokens_per_s"].get<double>(), 0);
  // llama.cpp's micro-batch for the full model, 64 under a budget, -ub when given.
  EXPECT_EQ(j["n_ubatch"].get<int>(), 512);
  r = run("bench -m " + model_ + " -p 8 -n 4 -r 1 -t 1 --expert-budget 50% --json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.last_stdout_line)["n_ubatch"].get<int>(), 64);
  r = run("bench -m " + model_ + " -p 8 -n 4 -r 1 -t 1 -ub 32 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.last_stdout_line)["n_ubatch"].get<int>(), 32);
  // The context grows to fit the depth (a -c smaller than depth + test is raised, not refused).
  r = run("bench -m " + model_ + " -p 0 -n 4 -d 40 -c 16 -r 1 -t 1 --parallel 2");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("| tg4 x2 @ d40 |"), std::string::npos) << r.out;
  // A sweep does not take a depth: refused with a message, not ignored.
  r = run("bench -m " + model_ + " --sweep -d 8 --budgets 50% -r 1");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("-d/--n-depth is for a single run"), std::string::npos) << r.out;
}

// --join P: a prompt beside the other sequences' decode step, in one forward and in two.
TEST_F(CliTest, BenchJoinTimesAPromptBesideADecodeStep) {
  Result r = run("bench -m " + model_ + " -p 0 -n 4 -d 8 -r 1 -t 1 --parallel 3 --join 5 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("| pp5 + tg x2 @ d8, one forward |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| pp5 + tg x2 @ d8, two forwards |"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(r.last_stdout_line);
  EXPECT_GT(j["join_one_forward_tokens_per_s"].get<double>(), 0);
  EXPECT_GT(j["join_two_forwards_tokens_per_s"].get<double>(), 0);
  r = run("bench -m " + model_ + " -p 0 -n 4 -r 1 --join 5");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("add --parallel 2 or more"), std::string::npos) << r.out;
  r = run("bench -m " + model_ + " -p 0 -n 4 -r 1 --parallel 2 --join 40 -ub 32");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("exceed the micro-batch of 32"), std::string::npos) << r.out;
}

// Q4_0 rows are interleaved at load (as llama.cpp repacks them) unless -nr/--no-repack says not.
TEST_F(CliTest, BenchSaysWhatWasRepacked) {
  const std::string q4 = model_ + ".q4_0.gguf";
  ASSERT_EQ(run("synth --preset tiny --experts 8 --type q4_0 -t 1 -o " + q4).code, 0);
  auto repacked = [&](const std::string& flags) {
    Result r = run("bench -m " + q4 + " -p 8 -n 4 -r 1 -t 1 --json " + flags);
    EXPECT_EQ(r.code, 0) << r.out;
    return std::make_pair(nlohmann::json::parse(r.last_stdout_line)["repacked_bytes"].get<uint64_t>(), r.out);
  };
  const auto [with, out] = repacked("");
#if defined(__x86_64__)  // the interleaved kernels are x86's so far
  EXPECT_GT(with, 0u);
  EXPECT_NE(out.find("8 rows interleaved"), std::string::npos) << out;
#endif
  EXPECT_EQ(repacked("--no-repack").first, 0u);
  EXPECT_EQ(repacked("-nr").first, 0u);  // llama.cpp's short name
  EXPECT_EQ(repacked("--cpu ref").first, 0u);  // nothing to gain without SIMD kernels
  std::filesystem::remove(q4);
}

TEST_F(CliTest, TemplatePrintsTheRenderedConversation) {
  const std::string conversation = model_ + ".conversation.json";
  {
    std::ofstream f(conversation);
    f << R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])";
  }
  // A file without a chat template gets ChatML, as in llama.cpp.
  Result r = run("template -m " + model_ + " --messages " + conversation + " --add-generation-prompt", false);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  r = run("template -m " + model_ + " --chat-template llama3 --messages " + conversation, false);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.rfind("<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>", 0), 0u) << r.out;
  // A vocabulary-only file carrying its own template.
  const std::string vocab = std::string(SWAPMOE_SHARED_DATA_DIR) + "/vocab/ggml-vocab-qwen2.gguf";
  if (std::filesystem::exists(vocab)) {
    r = run("template -m " + vocab + " --messages " + conversation, false);
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(r.out, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
  }
  // Unsupported constructs are named with their line and column, and nothing is printed.
  const std::string bad = model_ + ".bad.jinja";
  {
    std::ofstream f(bad);
    f << "{% for m in messages %}\n  {% call x() %}{% endcall %}{% endfor %}";
  }
  r = run("template --chat-template " + bad + " --messages " + conversation);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("bad.jinja:2:6: unsupported tag '{% call %}'"), std::string::npos) << r.out;
  std::filesystem::remove(conversation);
  std::filesystem::remove(bad);
}

// swapmoe tokenize reads only the vocabulary: llama.cpp's vocabulary-only files work.
TEST(CliTokenize, VocabularyOnlyFileLikeLlamaTokenize) {
  const std::string vocab = std::string(SWAPMOE_SHARED_DATA_DIR) + "/vocab/ggml-vocab-qwen2.gguf";
  if (!std::filesystem::exists(vocab)) GTEST_SKIP() << "shared test data not found at " << vocab;
  Result r = run("tokenize -m " + vocab + " -p 'Hello world<|im_end|>' --ids --parse-special", false);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "[9707, 1879, 151645]\n");
  r = run("tokenize -m " + vocab + " -p 'Hello world'", false);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "  9707 -> 'Hello'\n  1879 -> ' world'\n");

  const std::string spm = std::string(SWAPMOE_SHARED_DATA_DIR) + "/vocab/ggml-vocab-llama-spm.gguf";
  r = run("tokenize -m " + spm + " -p 'Hello world' --ids", false);
  EXPECT_EQ(r.out, "[1, 15043, 3186]\n");  // the vocabulary's BOS, unless --no-bos
  r = run("tokenize -m " + spm + " -p 'Hello world' --ids --no-bos", false);
  EXPECT_EQ(r.out, "[15043, 3186]\n");

  r = run("tokenize -m " + vocab);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("exactly one of -p TEXT and -f FILE"), std::string::npos) << r.out;
}

}  // namespace
