// Tests of Sampler: greedy, reproducibility, the distribution it draws from, truncations and
// the repetition, frequency and presence penalties.
#include "sampling/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <tuple>

#include "core/error.h"

namespace swapmoe {
namespace {

SamplerParams plain(float temperature = 1.0f) {
  SamplerParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  return p;
}

std::vector<double> softmax(const std::vector<float>& logits, float temperature = 1.0f) {
  double max = -INFINITY, sum = 0;
  for (float l : logits) max = std::max<double>(max, l / temperature);
  std::vector<double> p;
  for (float l : logits) sum += p.emplace_back(std::exp(l / temperature - max));
  for (double& x : p) x /= sum;
  return p;
}

std::vector<double> frequencies(Sampler& s, const std::vector<float>& logits, int draws) {
  std::vector<double> f(logits.size(), 0.0);
  for (int i = 0; i < draws; ++i) f[s.sample(logits)] += 1.0 / draws;
  return f;
}

std::vector<float> random_logits(int n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, 3.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(gen);
  return v;
}

TEST(Sampler, GreedyPicksArgmax) {
  Sampler s(plain(0.0f), 5);
  EXPECT_EQ(s.sample(std::vector<float>{0.1f, 2.0f, -1.0f, 1.9f, 0.0f}), 1);
  EXPECT_EQ(s.sample(std::vector<float>{3.0f, 1.0f, 3.0f, 0.0f, 0.0f}), 0);  // ties: lowest id
  const float ninf = -std::numeric_limits<float>::infinity();
  EXPECT_EQ(s.sample(std::vector<float>{ninf, ninf, -5.0f, ninf, ninf}), 2);
}

TEST(Sampler, TopKOneEqualsGreedy) {
  SamplerParams p;  // defaults, temperature 0.8
  p.top_k = 1;
  Sampler top1(p, 1000);
  Sampler greedy(plain(0.0f), 1000);
  for (uint32_t i = 0; i < 50; ++i) {
    const auto logits = random_logits(1000, i);
    EXPECT_EQ(top1.sample(logits), greedy.sample(logits));
  }
}

TEST(Sampler, SeedGivesReproducibleDraws) {
  const std::vector<float> logits(300, 0.0f);  // uniform: two seeds rarely agree by chance
  SamplerParams p = plain(1.0f);
  p.seed = 1234;
  Sampler a(p, 300), b(p, 300);
  std::vector<int32_t> draws_a, draws_b;
  for (int i = 0; i < 200; ++i) {
    draws_a.push_back(a.sample(logits));
    draws_b.push_back(b.sample(logits));
  }
  EXPECT_EQ(draws_a, draws_b);

  a.reset();  // back to the start of the sequence
  for (int i = 0; i < 200; ++i) ASSERT_EQ(a.sample(logits), draws_b[i]);

  p.seed = 1235;
  Sampler c(p, 300);
  int same = 0;
  for (int i = 0; i < 200; ++i) same += c.sample(logits) == draws_b[i];
  EXPECT_LT(same, 20);
}

TEST(Sampler, FrequenciesMatchSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 0.0f};
  const int draws = 200000;  // standard error <= 0.0012 per frequency
  for (float temperature : {1.0f, 0.5f, 2.0f}) {
    Sampler s(plain(temperature), 5);
    const auto f = frequencies(s, logits, draws);
    const auto p = softmax(logits, temperature);
    for (size_t i = 0; i < p.size(); ++i) {
      EXPECT_NEAR(f[i], p[i], 0.006) << "token " << i << " at temperature " << temperature;
    }
  }
}

TEST(Sampler, TopKRenormalises) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 0.0f};
  SamplerParams p = plain(1.0f);
  p.top_k = 2;  // tokens 1 and 0 survive
  Sampler s(p, 5);
  const auto f = frequencies(s, logits, 100000);
  const double p1 = 1.0 / (1.0 + std::exp(-1.0));
  EXPECT_NEAR(f[1], p1, 0.006);
  EXPECT_NEAR(f[0], 1.0 - p1, 0.006);
  EXPECT_EQ(f[2] + f[3] + f[4], 0.0);
}

TEST(Sampler, TopPKeepsTheSmallestSufficientPrefix) {
  // Probabilities 0.5, 0.3, 0.15, 0.05.
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  SamplerParams p = plain(1.0f);
  p.top_p = 0.75f;  // 0.5 < 0.75 <= 0.8: the first two
  Sampler s(p, 4);
  auto f = frequencies(s, logits, 50000);
  EXPECT_EQ(f[2] + f[3], 0.0);
  EXPECT_NEAR(f[0], 0.5 / 0.8, 0.01);

  p.top_p = 0.9f;  // 0.8 < 0.9 <= 0.95: three survive
  Sampler s3(p, 4);
  f = frequencies(s3, logits, 50000);
  EXPECT_EQ(f[3], 0.0);
  EXPECT_GT(f[2], 0.1);
}

TEST(Sampler, MinPDropsUnlikelyTokens) {
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  SamplerParams p = plain(1.0f);
  p.min_p = 0.2f;  // threshold 0.1: 0.05 goes, 0.15 stays
  Sampler s(p, 4);
  const auto f = frequencies(s, logits, 50000);
  EXPECT_EQ(f[3], 0.0);
  EXPECT_NEAR(f[2], 0.15 / 0.95, 0.01);
}

TEST(Sampler, TruncationUsesTemperatureOneProbabilities) {
  // At temperature 5 token 3 would be fairly likely, but top-p decides before temperature.
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  SamplerParams p = plain(5.0f);
  p.top_p = 0.75f;
  Sampler s(p, 4);
  const auto f = frequencies(s, logits, 20000);
  EXPECT_EQ(f[2] + f[3], 0.0);
}

// The chain written plainly: full sort, then each step in turn, and the documented draw.
// Sampler filters min-p before sorting; it must still pick exactly the same tokens.
// `count[i]`: occurrences of token i in the penalty window.
int32_t reference_sample(const std::vector<float>& logits, const SamplerParams& p, const std::vector<int>& count,
                         std::mt19937_64& rng) {
  struct C {
    int32_t id;
    float logit;
  };
  std::vector<C> c;
  for (int32_t i = 0; i < static_cast<int32_t>(logits.size()); ++i) {
    float logit = logits[i];
    if (count[i] > 0) {  // llama.cpp's penalties sampler, written out
      logit = logit <= 0 ? logit * p.repeat_penalty : logit / p.repeat_penalty;
      logit -= static_cast<float>(count[i]) * p.frequency_penalty + p.presence_penalty;
    }
    c.push_back({i, logit});
  }
  std::sort(c.begin(), c.end(), [](const C& a, const C& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); });
  if (p.temperature <= 0) return c[0].id;
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < c.size()) c.resize(p.top_k);
  const float max = c[0].logit;
  if (p.top_p < 1.0f) {
    double sum = 0;
    for (const C& x : c) sum += std::exp(x.logit - max);
    const float inv = static_cast<float>(1.0 / sum);
    float cumulative = 0;
    for (size_t i = 0; i < c.size(); ++i) {
      cumulative += std::exp(c[i].logit - max) * inv;
      if (cumulative >= p.top_p) {
        c.resize(i + 1);
        break;
      }
    }
  }
  if (p.min_p > 0.0f) {
    size_t keep = 1;
    while (keep < c.size() && c[keep].logit >= max + std::log(p.min_p)) ++keep;
    c.resize(keep);
  }
  std::vector<float> prob;
  double sum = 0;
  for (const C& x : c) sum += prob.emplace_back(std::exp(x.logit / p.temperature - max / p.temperature));
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  double cumulative = 0;
  for (size_t i = 0; i + 1 < c.size(); ++i) {
    cumulative += prob[i] * static_cast<float>(1.0 / sum);
    if (u < cumulative) return c[i].id;
  }
  return c.back().id;
}

// Runs Sampler and the reference side by side for 200 steps, accepting each drawn token.
void expect_matches_reference(const SamplerParams& p, int n_vocab) {
  Sampler s(p, n_vocab);
  std::mt19937_64 rng(p.seed);
  std::vector<int32_t> recent;
  for (uint32_t step = 0; step < 200; ++step) {
    const auto logits = random_logits(n_vocab, step);
    std::vector<int> count(n_vocab, 0);
    const size_t window = static_cast<size_t>(p.repeat_last_n);
    for (size_t i = recent.size() > window ? recent.size() - window : 0; i < recent.size(); ++i) ++count[recent[i]];
    const int32_t expected = reference_sample(logits, p, count, rng);
    const int32_t got = s.sample(logits);
    ASSERT_EQ(got, expected) << "top_k " << p.top_k << " top_p " << p.top_p << " min_p " << p.min_p
                             << " frequency_penalty " << p.frequency_penalty << " presence_penalty "
                             << p.presence_penalty << " step " << step;
    s.accept(got);
    recent.push_back(got);
  }
}

TEST(Sampler, MatchesThePlainReferenceChain) {
  for (const auto& [top_k, top_p, min_p] : std::vector<std::tuple<int, float, float>>{
           {40, 0.95f, 0.05f}, {0, 0.9f, 0.0f}, {0, 1.0f, 0.1f}, {0, 0.8f, 0.02f}, {500, 0.99f, 0.01f}, {0, 1.0f, 0.0f}}) {
    SamplerParams p;
    p.temperature = 0.7f;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.repeat_penalty = 1.3f;
    p.repeat_last_n = 8;
    p.seed = 99;
    expect_matches_reference(p, 2000);
  }
}

// Top-k over a large vocabulary sets candidates aside by a bound before selecting; with many
// tied logits at the boundary the k kept must still be the lowest ids, as a full sort keeps.
TEST(Sampler, TopKOverALargeVocabularyKeepsWhatAFullSortKeeps) {
  constexpr int kVocab = 40000;
  for (const int top_k : {1, 40, 1000, 9999}) {
    SamplerParams p;
    p.temperature = 1.5f;
    p.top_k = top_k;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 5;
    Sampler s(p, kVocab);
    std::mt19937_64 rng(p.seed);
    const std::vector<int> count(kVocab, 0);
    for (uint32_t step = 0; step < 12; ++step) {
      auto logits = random_logits(kVocab, step);
      if (step % 3 == 1) for (float& x : logits) x = std::round(x);  // a few dozen values, tied many times over
      if (step % 3 == 2) for (int i = 0; i < kVocab / 4; ++i) logits[i] -= 20.0f;  // a range of unlikely ids
      ASSERT_EQ(s.sample(logits), reference_sample(logits, p, count, rng)) << "top_k " << top_k << " step " << step;
    }
  }
}

TEST(Sampler, FrequencyAndPresencePenaltiesMatchTheReference) {
  // Few tokens and a long window, so tokens repeat and counts above 1 matter; greedy and drawn.
  for (const auto& [frequency, presence, repeat] : std::vector<std::tuple<float, float, float>>{
           {0.5f, 0.0f, 1.0f}, {0.0f, 0.7f, 1.0f}, {1.2f, 0.4f, 1.3f}, {-0.5f, -1.0f, 1.1f}, {2.0f, 2.0f, 1.0f}}) {
    for (float temperature : {0.0f, 0.8f}) {
      SamplerParams p;
      p.temperature = temperature;
      p.frequency_penalty = frequency;
      p.presence_penalty = presence;
      p.repeat_penalty = repeat;
      p.repeat_last_n = 32;
      p.seed = 7;
      expect_matches_reference(p, 50);
    }
  }
}

TEST(Sampler, RepeatPenaltyMath) {
  EXPECT_FLOAT_EQ(repeat_penalized(2.0f, 2.0f), 1.0f);    // positive: divided
  EXPECT_FLOAT_EQ(repeat_penalized(-2.0f, 2.0f), -4.0f);  // negative: multiplied
  EXPECT_FLOAT_EQ(repeat_penalized(0.0f, 2.0f), 0.0f);
}

TEST(Sampler, RepeatPenaltyAppliesToRecentTokens) {
  SamplerParams p = plain(0.0f);
  p.repeat_penalty = 2.0f;
  p.repeat_last_n = 2;
  Sampler s(p, 3);
  const std::vector<float> positive = {2.0f, 1.5f, 0.0f};
  EXPECT_EQ(s.sample(positive), 0);
  s.accept(0);
  EXPECT_EQ(s.sample(positive), 1);  // 2 / 2 = 1 < 1.5
  s.accept(0);  // twice in the window, still divided once: 2.5 / 2 = 1.25 > 1.2 (not 0.625)
  EXPECT_EQ(s.sample(std::vector<float>{2.5f, 1.2f, 0.0f}), 0);
}

TEST(Sampler, RepeatPenaltyOnNegativeLogitsAndWindow) {
  SamplerParams p = plain(0.0f);
  p.repeat_penalty = 2.0f;
  p.repeat_last_n = 2;
  Sampler s(p, 3);
  const std::vector<float> negative = {-1.0f, -1.5f, -9.0f};
  s.accept(0);
  EXPECT_EQ(s.sample(negative), 1);  // -1 * 2 = -2 < -1.5
  s.accept(2);
  s.accept(2);                       // token 0 has left the two-token window
  EXPECT_EQ(s.sample(negative), 0);
}

TEST(Sampler, FrequencyPenaltyCountsOccurrencesPresenceDoesNot) {
  SamplerParams p = plain(0.0f);
  p.repeat_last_n = 8;
  p.frequency_penalty = 0.5f;
  Sampler freq(p, 3);
  const std::vector<float> logits = {2.0f, 1.2f, 0.0f};
  freq.accept(0);
  EXPECT_EQ(freq.sample(logits), 0);  // 2 - 0.5 = 1.5 > 1.2
  freq.accept(0);
  EXPECT_EQ(freq.sample(logits), 1);  // 2 - 2 * 0.5 = 1 < 1.2

  p.frequency_penalty = 0.0f;
  p.presence_penalty = 0.5f;
  Sampler presence(p, 3);
  for (int i = 0; i < 5; ++i) presence.accept(0);
  EXPECT_EQ(presence.sample(logits), 0);  // 2 - 0.5 = 1.5, however often it appeared

  p.presence_penalty = -1.0f;  // negative: seen tokens become more likely
  Sampler encourage(p, 3);
  encourage.accept(1);
  EXPECT_EQ(encourage.sample(logits), 1);  // 1.2 + 1 = 2.2 > 2
}

TEST(Sampler, PenaltiesApplyAfterTheRepeatPenalty) {
  SamplerParams p = plain(0.0f);
  p.repeat_last_n = 4;
  p.repeat_penalty = 2.0f;
  p.frequency_penalty = 0.25f;
  p.presence_penalty = 0.5f;
  Sampler s(p, 2);
  s.accept(0);
  s.accept(0);
  // (3 / 2) - (2 * 0.25 + 0.5) = 0.5; subtracting first would give (3 - 1) / 2 = 1.
  EXPECT_EQ(s.sample(std::vector<float>{3.0f, 0.75f}), 1);
  EXPECT_EQ(s.sample(std::vector<float>{3.0f, 0.25f}), 0);
}

TEST(Sampler, ZeroPenaltiesChangeNothing) {
  // With every penalty neutral, a history must not change a single draw.
  SamplerParams p;
  p.seed = 5;
  p.repeat_last_n = 64;
  SamplerParams no_window = p;
  no_window.repeat_last_n = 0;
  Sampler with_history(p, 500), without(no_window, 500);
  for (uint32_t step = 0; step < 200; ++step) {
    const auto logits = random_logits(500, step);
    const int32_t a = with_history.sample(logits);
    ASSERT_EQ(a, without.sample(logits)) << "step " << step;
    with_history.accept(a);
    without.accept(a);
  }
}

TEST(Sampler, PenaltyOffByDefault) {
  Sampler s(plain(0.0f), 2);
  s.accept(0);
  EXPECT_EQ(s.sample(std::vector<float>{2.0f, 1.5f}), 0);
}

TEST(Sampler, Errors) {
  EXPECT_THROW(Sampler(plain(), 0), Error);
  SamplerParams bad = plain();
  bad.repeat_penalty = 0.0f;
  EXPECT_THROW(Sampler(bad, 4), Error);
  bad = plain();
  bad.repeat_last_n = -1;
  EXPECT_THROW(Sampler(bad, 4), Error);
  for (float v : {2.01f, -2.01f, NAN, INFINITY}) {
    bad = plain();
    bad.frequency_penalty = v;
    EXPECT_THROW(Sampler(bad, 4), Error) << "frequency_penalty " << v;
    bad = plain();
    bad.presence_penalty = v;
    EXPECT_THROW(Sampler(bad, 4), Error) << "presence_penalty " << v;
  }
  SamplerParams edge = plain();
  edge.frequency_penalty = -2.0f;
  edge.presence_penalty = 2.0f;
  EXPECT_NO_THROW(Sampler(edge, 4));

  Sampler s(plain(), 3);
  EXPECT_THROW(s.sample(std::vector<float>{1.0f, 2.0f}), Error);
  EXPECT_THROW(s.sample(std::vector<float>{1.0f, NAN, 0.0f}), Error);
  const float ninf = -std::numeric_limits<float>::infinity();
  EXPECT_THROW(s.sample(std::vector<float>{ninf, ninf, ninf}), Error);
  EXPECT_THROW(s.accept(3), Error);
  EXPECT_THROW(s.accept(-1), Error);
}

}  // namespace
}  // namespace swapmoe
