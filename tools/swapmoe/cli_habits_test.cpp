// What a llama.cpp user types in the first ten minutes: its flags, nonsense values, budgets at
// the edges, reproducibility, and the messages bad input gets.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_test_util.h"

namespace {

using swapmoe::cli_test::CliTest;
using swapmoe::cli_test::Result;
using swapmoe::cli_test::run;

bool has(const Result& r, const std::string& text) { return r.out.find(text) != std::string::npos; }

nlohmann::json json_of(const Result& r) { return nlohmann::json::parse(r.last_stdout_line); }

TEST_F(CliTest, LlamaCppGpuFlagsAreNotedNotMisparsed) {
  Result r = run("run -m " + model_ + " -p hi -n 4 --temp 0 -t 1 -ngl 99 -fa on --n-gpu-layers 20 -nkvo");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(has(r, "note: -ngl 99 ignored")) << r.out;
  EXPECT_FALSE(has(r, "-fa on ignored")) << r.out;  // flash attention is a setting here (below)
  EXPECT_TRUE(has(r, "note: --n-gpu-layers 20 ignored")) << r.out;
  EXPECT_TRUE(has(r, "note: -nkvo ignored")) << r.out;
}

// llama.cpp's -fa: on|off|auto, or bare (older llama.cpp's switch, meaning on); perplexity over an
// f16 cache differs between the two arithmetics, over an f32 cache it does not.
TEST_F(CliTest, FlashAttentionFlagTakesLlamaCppsForms) {
  const std::string text = model_ + ".fa.txt";
  {
    std::ofstream out(text);
    for (int i = 0; i < 200; ++i) out << "To be, or not to be, that is the question " << i << ".\n";
  }
  auto ppl = [&](const std::string& flags) {
    Result r = run("perplexity -m " + model_ + " -f " + text + " -c 64 --chunks 2 -t 1 --json " + flags);
    EXPECT_EQ(r.code, 0) << flags << "\n" << r.out;
    return r.code == 0 ? json_of(r)["ppl"].get<double>() : 0.0;
  };
  EXPECT_EQ(ppl("-fa -ctk f16"), ppl("-fa on -ctk f16"));
  EXPECT_NE(ppl("-fa off -ctk f16 -ctv f16"), ppl("-fa auto -ctk f16 -ctv f16"));
  EXPECT_EQ(ppl("-fa off -ctk f32 -ctv f32"), ppl("--flash-attn on -ctk f32 -ctv f32"));
  Result bad = run("run -m " + model_ + " -p hi -n 1 -fa maybe");
  EXPECT_NE(bad.code, 0);
  std::filesystem::remove(text);
}

TEST_F(CliTest, UnknownMultiLetterFlagsAndSubcommandsAreNamed) {
  Result r = run("run -m " + model_ + " -xyz 3");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r, "unknown flag '-xyz'")) << r.out;
  for (const char* sub : {"server", "quantize"}) {
    r = run(sub);
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(has(r, std::string("unknown subcommand '") + sub + "'")) << r.out;
    EXPECT_TRUE(has(r, "run, chat, perplexity")) << r.out;
  }
  // A prompt that looks like a flag stays a prompt.
  r = run("run -m " + model_ + " -p -abc -n 2 -t 1");
  EXPECT_EQ(r.code, 0) << r.out;
}

TEST_F(CliTest, NumericOptionsAreValidatedWithFlagValueAndRange) {
  const std::pair<const char*, const char*> bad[] = {
      {"--top-p 7", "--top-p"},      {"--top-p -1", "--top-p"},    {"--min-p 2", "--min-p"},
      {"--top-k -3", "--top-k"},     {"--temp -1", "--temp"},      {"--temp inf", "--temp"},
      {"--temp nan", "--temp"},      {"--seed -2", "--seed"},      {"-ub 0", "--ubatch-size"},
      {"-b 0", "--batch-size"},      {"-n -5", "--n-predict"},     {"--repeat-penalty 0", "--repeat-penalty"},
      {"-c 0", "--ctx-size"},        {"-t -1", "--threads"},
  };
  for (const auto& [args, flag] : bad) {
    Result r = run("run -m " + model_ + " -p hi " + args);
    EXPECT_NE(r.code, 0) << args;
    EXPECT_TRUE(has(r, flag)) << args << ": " << r.out;
  }
  Result r = run("run -m " + model_ + " -p hi --top-p 7");
  EXPECT_TRUE(has(r, "7 is outside [0, 1]")) << r.out;
  // The other subcommands' numbers too.
  const std::pair<const char*, const char*> other[] = {
      {"run --importance-half-life nan", "--importance-half-life"}, {"bench --ppl-chunks 0", "--ppl-chunks"},
      {"plan --max-latency -5", "--max-latency"},                   {"plan -c 0", "--ctx-size"},
      {"profile --quality-seconds inf", "--quality-seconds"},        {"profile --calibration-split 2", "--calibration-split"},
      {"plan --min-speed 1.5", "--min-speed"},
  };
  for (const auto& [args, flag] : other) {
    r = run(std::string(args) + " -m " + model_);
    EXPECT_NE(r.code, 0) << args;
    EXPECT_TRUE(has(r, flag)) << args << ": " << r.out;
  }

  const std::string text = model_ + ".txt";
  std::ofstream(text) << std::string(4000, 'a');
  r = run("perplexity -m " + model_ + " -f " + text + " --chunks 0");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(has(r, "--chunks")) << r.out;
  std::filesystem::remove(text);

  const std::string out = model_ + ".synth.gguf";
  for (const char* args : {"--layers 0", "--layers -1", "--experts 0", "--ff 0", "--vocab 3", "--embd 7"}) {
    r = run(std::string("synth --preset tiny -o ") + out + " " + args);
    EXPECT_NE(r.code, 0) << args << ": " << r.out;
    EXPECT_FALSE(std::filesystem::exists(out)) << args;
  }
  r = run("synth --preset tiny --vocab 3 -o " + out);
  EXPECT_TRUE(has(r, "at least 260")) << r.out;
}

TEST_F(CliTest, SeedMinusOneIsRandomAndPrinted) {
  Result a = run("run -m " + model_ + " -p hi -n 4 -t 1 --seed -1 --json", false);
  ASSERT_EQ(a.code, 0) << a.out;
  EXPECT_NE(json_of(a)["seed"].get<uint64_t>(), UINT64_MAX);
  Result b = run("run -m " + model_ + " -p hi -n 4 -t 1 --seed 7 --json", false);
  EXPECT_EQ(json_of(b)["seed"].get<uint64_t>(), 7u);
}

TEST_F(CliTest, PromptFileEscapesStopsAndReversePrompts) {
  Result base = run("run -m " + model_ + " -p \"to be\" -n 24 --temp 0 -t 1 --json", false);
  ASSERT_EQ(base.code, 0) << base.out;
  const std::string text = json_of(base)["text"];
  ASSERT_GE(text.size(), 6u);
  // A piece of the greedy text from its middle, as a stop string; printable ASCII only, so it
  // can be passed through the shell.
  std::string stop;
  for (size_t i = 2; i < text.size() && stop.size() < 2; ++i)
    if (std::isalnum(static_cast<unsigned char>(text[i])) != 0) stop += text[i];
    else stop.clear();
  if (stop.size() == 2) {
    const size_t at = text.find(stop);
    Result r = run("run -m " + model_ + " -p \"to be\" -n 24 --temp 0 -t 1 --json -r " + stop, false);
    EXPECT_EQ(json_of(r)["stop_reason"], "stop");
    EXPECT_EQ(json_of(r)["text"], text.substr(0, at + stop.size()));
    r = run("run -m " + model_ + " -p \"to be\" -n 24 --temp 0 -t 1 --json --stop " + stop, false);
    EXPECT_EQ(json_of(r)["text"], text.substr(0, at));
  }

  const std::string file = model_ + ".prompt.txt";
  std::ofstream(file) << "to be";
  Result f = run("run -m " + model_ + " -f " + file + " -n 24 --temp 0 -t 1 --json", false);
  EXPECT_EQ(json_of(f)["tokens"], json_of(base)["tokens"]) << "-f reads the same prompt";
  std::filesystem::remove(file);

  // -e (the default) turns \n into a newline; --no-escape keeps the two characters.
  Result e = run("run -m " + model_ + " -p 'a\\nb' -n 1 --temp 0 -t 1 --json", false);
  Result n = run("run -m " + model_ + " -p 'a\\nb' -n 1 --temp 0 -t 1 --json --no-escape", false);
  EXPECT_LT(json_of(e)["n_prompt_tokens"].get<int>(), json_of(n)["n_prompt_tokens"].get<int>());

  Result both = run("run -m " + model_ + " -p hi -f " + file);
  EXPECT_EQ(both.code, 1);
  EXPECT_TRUE(has(both, "both -p and -f")) << both.out;
}

TEST_F(CliTest, InteractiveAndChatModesTakeTurnsFromStdin) {
  const std::string typed = model_ + ".typed.txt";
  std::ofstream(typed) << "more\nagain\n";  // two lines typed by the user
  Result r = run("run -m " + model_ + " -p hi -n 3 --temp 0 -t 1 -i --json < " + typed, false);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(has(r, "> more")) << r.out;
  EXPECT_TRUE(has(r, "> again")) << r.out;
  EXPECT_GT(json_of(r)["n_prompt_tokens"].get<int>(), 8) << "the typed lines were evaluated";

  r = run("chat -m " + model_ + " -sys 'be brief' -n 3 --temp 0 -t 1 --json < " + typed, false);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(has(r, "> more")) << r.out;
  // System message and two user turns in ChatML, each ending in the assistant's opening.
  EXPECT_GT(json_of(r)["n_prompt_tokens"].get<int>(), 60) << r.out;
  r = run("run -cnv -st -m " + model_ + " -p hello -n 3 --temp 0 -t 1 --json < " + typed, false);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_FALSE(has(r, "> more")) << "--single-turn ends after the first reply: " << r.out;
  std::filesystem::remove(typed);
}

TEST_F(CliTest, BudgetsAtTheEdges) {
  // 100% is the full model, not swapmoe with fewer slots than experts.
  for (const char* budget : {"--memory-budget 100%", "--expert-budget 100%"}) {
    Result r = run("run -m " + model_ + " -p hi -n 4 -t 1 --json " + std::string(budget));
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(json_of(r)["policy"], "full") << budget;
    EXPECT_TRUE(has(r, "holds the full model")) << r.out;
  }
  // A share of the experts rounds to whole experts, and the stats line says to what.
  Result r = run("run -m " + model_ + " -p hi -n 4 -t 1 --expert-budget 30%");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(has(r, "30% of the experts")) << r.out;
  EXPECT_TRUE(has(r, "2/8 experts per layer (25.0%)")) << r.out;
  // Below the minimum: the smallest percentage is named.
  r = run("run -m " + model_ + " -p hi --memory-budget 10%");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r, "minimum")) << r.out;
  EXPECT_TRUE(has(r, "% of the full footprint")) << r.out;
  // A plan needs a budget to split; a plan that does not match the budget is scaled, with a note.
  const std::string plan = model_ + ".plan.json";
  std::ofstream(plan) << R"({"slots": [8, 8], "update_interval": 8})";
  r = run("run -m " + model_ + " -p hi --plan " + plan);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r, "without a budget")) << r.out;
  r = run("run -m " + model_ + " -p hi -n 2 -t 1 --expert-budget 50% --plan " + plan + " --json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(has(r, "was scaled to")) << r.out;
  std::filesystem::remove(plan);
}

TEST_F(CliTest, DeterministicBudgetedRunsRepeat) {
  const std::string args = " -p \"to be or not\" -n 24 --temp 0.8 --seed 3 -t 2 --expert-budget 50% --deterministic --json";
  Result a = run("run -m " + model_ + args, false);
  Result b = run("run -m " + model_ + args, false);
  ASSERT_EQ(a.code, 0) << a.out;
  EXPECT_EQ(json_of(a)["tokens"], json_of(b)["tokens"]);
  EXPECT_TRUE(has(run("run --help"), "--deterministic"));
  EXPECT_TRUE(has(run("run --help"), "may differ between runs"));
}

TEST_F(CliTest, MmapAndMlockChoicesGiveTheSameTokens) {
  const std::string args = " -p \"to be\" -n 12 --temp 0 -t 1 --json";
  Result a = run("run -m " + model_ + args, false);
  Result b = run("run -m " + model_ + args + " --no-mmap --mlock", false);
  ASSERT_EQ(b.code, 0) << b.out;
  EXPECT_EQ(json_of(a)["tokens"], json_of(b)["tokens"]);
}

TEST_F(CliTest, ClearMessagesForBadInput) {
  // A prompt longer than the context: the error, and the prompt is not echoed first.
  Result r = run("run -m " + model_ + " -c 8 -p \"the unmistakable prompt that is far too long\"");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r, "context holds 8")) << r.out;
  EXPECT_FALSE(has(r, "unmistakable")) << r.out;
  // perplexity on a directory.
  r = run("perplexity -m " + model_ + " -f " + std::filesystem::temp_directory_path().string());
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r, "is a directory")) << r.out;
  // A file without weights.
  const std::string vocab = std::string(SWAPMOE_SHARED_DATA_DIR) + "/vocab/ggml-vocab-llama-spm.gguf";
  if (std::filesystem::exists(vocab)) {
    r = run("run -m " + vocab + " -p hi");
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(has(r, "vocabulary-only")) << r.out;
  }
}

// A prompt of 10 MB is refused from its length, before tokenizing it would take seconds and
// half a gigabyte.
TEST_F(CliTest, AHugePromptFileIsRefusedQuicklyWithTheContext) {
  const std::string path = model_ + ".prompt.txt";
  std::ofstream(path) << std::string(10u << 20, 'a');
  const auto t0 = std::chrono::steady_clock::now();
  Result r = run("run -m " + model_ + " -c 64 -f " + path);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::filesystem::remove(path);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r, "the prompt is 10485760 bytes, so at least")) << r.out;
  EXPECT_TRUE(has(r, "the context holds 64")) << r.out;
  EXPECT_LT(seconds, 5.0);
}

TEST_F(CliTest, VersionNamesBuildAndKernels) {
  Result r = run("--version");
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(has(r, "swapmoe ")) << r.out;
  EXPECT_TRUE(has(r, "build")) << r.out;
  EXPECT_TRUE(has(r, "cpu:")) << r.out;
}

}  // namespace
