// Sampler micro-benchmark: one sample() call (penalties, top-k, top-p, min-p, temperature, draw)
// with the default parameters, over the vocabularies of the shipped model (1,024), the llama
// family (32,000) and Qwen3 (151,936).
//
//   sampler_bench --benchmark_filter='sample/151936'      time a call; items/s = calls a second
//   sampler_bench --benchmark_filter='sample_skewed'      a quarter of the ids far less likely
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "sampling/sampler.h"

namespace swapmoe {
namespace {

// skewed: the first quarter of the ids far less likely than the rest, as an SPM vocabulary's
// byte tokens are in a language model's output.
void sample(benchmark::State& state, bool skewed) {
  const auto n_vocab = static_cast<int32_t>(state.range(0));
  // A few sets of normally distributed logits, cycled so the branch predictor cannot learn one.
  std::vector<std::vector<float>> logits(8, std::vector<float>(static_cast<size_t>(n_vocab)));
  std::mt19937 gen(1);
  std::normal_distribution<float> d(0.0f, 3.0f);
  for (auto& set : logits)
    for (size_t i = 0; i < set.size(); ++i) set[i] = d(gen) - (skewed && i < set.size() / 4 ? 15.0f : 0.0f);
  Sampler sampler(SamplerParams{}, n_vocab);
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(sampler.sample(logits[i++ % logits.size()]));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(sample, normal, false)->Name("sample")->Arg(1024)->Arg(32000)->Arg(151936);
BENCHMARK_CAPTURE(sample, skewed, true)->Name("sample_skewed")->Arg(1024)->Arg(32000)->Arg(151936);

}  // namespace
}  // namespace swapmoe

BENCHMARK_MAIN();
