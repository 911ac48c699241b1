// Sampler micro-benchmark: one sample() call (penalties, top-k, top-p, min-p, temperature, draw)
// with the default parameters, over the vocabularies of the shipped model (1,024), the llama
// family (32,000) and Qwen3 (151,936).
//
//   sampler_bench --benchmark_filter='sample/151936'      time a call; items/s = calls a second
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "sampling/sampler.h"

namespace swapmoe {
namespace {

void sample(benchmark::State& state) {
  const auto n_vocab = static_cast<int32_t>(state.range(0));
  // A few sets of normally distributed logits, cycled so the branch predictor cannot learn one.
  std::vector<std::vector<float>> logits(8, std::vector<float>(static_cast<size_t>(n_vocab)));
  std::mt19937 gen(1);
  std::normal_distribution<float> d(0.0f, 3.0f);
  for (auto& set : logits)
    for (float& x : set) x = d(gen);
  Sampler sampler(SamplerParams{}, n_vocab);
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(sampler.sample(logits[i++ % logits.size()]));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(sample)->Name("sample")->Arg(1024)->Arg(32000)->Arg(151936);

}  // namespace
}  // namespace swapmoe

BENCHMARK_MAIN();
