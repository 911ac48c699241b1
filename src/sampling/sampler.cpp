// Sampler: the penalties -> top-k -> top-p -> min-p -> temperature -> draw chain.
#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"

namespace swapmoe {

namespace {

constexpr const char* k_where = "sampler";

// Decreasing logit; ties by increasing id so that results never depend on sort internals.
constexpr auto more_likely = [](const auto& a, const auto& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
};

// Fills p for candidates [0, n), which must be sorted (so element 0 holds the maximum).
template <typename C>
void softmax_sorted(C* c, size_t n) {
  const float max = c[0].logit;
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    c[i].p = std::exp(c[i].logit - max);
    sum += c[i].p;
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (size_t i = 0; i < n; ++i) c[i].p *= inv;
}

// How many chunks select_most_likely cuts n candidates into for the k best: 4k when each chunk
// keeps at least 4 candidates (0: too few candidates for a bound to pay).
size_t bound_chunks(size_t n, size_t k) { return k > 0 && n >= 16 * k ? 4 * k : 0; }

// Moves the k most likely of candidates [0, n) to [0, k), in no particular order (k < n).
// nth_element over a whole vocabulary makes several passes over it; first one pass sets aside
// every candidate below a cheap bound on the k-th best: the k-th most likely of the maxima of
// 4k chunks (k chunks hold a candidate at least that likely, so the k best all are). Taking the
// k-th of 4k maxima, not the least of k, keeps the bound tight when whole ranges of ids are
// unlikely (an SPM vocabulary's byte tokens). `maxima` holds bound_chunks(n, k) candidates.
template <typename C>
void select_most_likely(C* c, size_t n, size_t k, C* maxima) {
  if (const size_t m = bound_chunks(n, k); m > 0) {
    const size_t chunk = n / m;
    for (size_t j = 0; j < m; ++j) {
      // A chunk's first highest logit is its most likely candidate (ids ascend within it).
      const C* best = c + j * chunk;
      for (const C* x = best + 1; x < c + (j + 1) * chunk; ++x)
        if (x->logit > best->logit) best = x;
      maxima[j] = *best;
    }
    std::nth_element(maxima, maxima + (k - 1), maxima + m, more_likely);
    const C bound = maxima[k - 1];
    n = static_cast<size_t>(std::partition(c, c + n, [&](const C& x) { return !more_likely(bound, x); }) - c);
  }
  std::nth_element(c, c + k, c + n, more_likely);
}

}  // namespace

Sampler::Sampler(const SamplerParams& params, int32_t n_vocab)
    : params_(params), n_vocab_(n_vocab), rng_(params.seed) {
  if (n_vocab <= 0) fail(k_where, "n_vocab = " + std::to_string(n_vocab), "the vocabulary must not be empty");
  if (std::isnan(params.temperature) || std::isnan(params.top_p) || std::isnan(params.min_p)) {
    fail(k_where, "temperature, top_p and min_p must be numbers");
  }
  if (!(params.repeat_penalty > 0.0f) || !std::isfinite(params.repeat_penalty)) {
    fail(k_where, "repeat_penalty = " + std::to_string(params.repeat_penalty),
         "use a positive value; 1 turns the penalty off");
  }
  // OpenAI's range; beyond it a penalty swamps any logit and the output degenerates.
  for (const auto& [name, value] : {std::pair{"frequency_penalty", params.frequency_penalty},
                                    std::pair{"presence_penalty", params.presence_penalty}}) {
    if (!(value >= -2.0f && value <= 2.0f)) {
      fail(k_where, std::string(name) + " = " + std::to_string(value), "use a value in [-2, 2]; 0 turns it off");
    }
  }
  if (params.repeat_last_n < 0) {
    fail(k_where, "repeat_last_n = " + std::to_string(params.repeat_last_n), "use 0 to turn the penalty off");
  }
  candidates_.resize(n_vocab);
  if (params.top_k > 0) chunk_maxima_.resize(bound_chunks(static_cast<size_t>(n_vocab), static_cast<size_t>(params.top_k)));
  history_.resize(params.repeat_last_n);
  history_count_.assign(n_vocab, 0);
}

void Sampler::accept(int32_t token) {
  if (token < 0 || token >= n_vocab_) {
    fail(k_where, "accepted token " + std::to_string(token) + " is outside the vocabulary of " +
                      std::to_string(n_vocab_));
  }
  if (history_.empty()) return;
  if (history_size_ == history_.size()) {
    --history_count_[history_[history_next_]];  // the oldest token leaves the window
  } else {
    ++history_size_;
  }
  history_[history_next_] = token;
  ++history_count_[token];
  history_next_ = (history_next_ + 1) % history_.size();
}

void Sampler::reset() {
  rng_.seed(params_.seed);
  std::fill(history_count_.begin(), history_count_.end(), 0u);
  history_next_ = 0;
  history_size_ = 0;
}

int32_t Sampler::sample(std::span<const float> logits) {
  if (logits.size() != static_cast<size_t>(n_vocab_)) {
    fail(k_where, "got " + std::to_string(logits.size()) + " logits for a vocabulary of " + std::to_string(n_vocab_),
         "pass the logits of the last position only");
  }

  // 1. Penalties, while copying into the working buffer.
  const bool penalize = (params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f ||
                         params_.presence_penalty != 0.0f) &&
                        history_size_ > 0;
  int32_t best = 0;  // the first highest logit: the most likely candidate
  for (int32_t id = 0; id < n_vocab_; ++id) {
    float logit = logits[id];
    // -infinity is a legitimate mask; NaN or +infinity means the forward pass went wrong.
    if (std::isnan(logit) || logit == std::numeric_limits<float>::infinity()) {
      fail(k_where, "logit of token " + std::to_string(id) + " is " + std::to_string(logit),
           "the forward pass produced a non-finite value");
    }
    if (penalize && history_count_[id] > 0) {
      const uint32_t count = history_count_[id];
      logit = repeat_penalized(logit, params_.repeat_penalty) -
              (static_cast<float>(count) * params_.frequency_penalty + params_.presence_penalty);
    }
    candidates_[id] = {id, logit, 0.0f};
    if (logit > candidates_[best].logit) best = id;
  }

  // 2. Greedy.
  if (candidates_[best].logit == -std::numeric_limits<float>::infinity()) {
    fail(k_where, "every logit is -infinity", "nothing can be sampled; check logit masks");
  }
  if (params_.temperature <= 0.0f) return best;

  return draw(truncate(candidates_.size()));
}

size_t Sampler::truncate(size_t n) {
  Candidate* c = candidates_.data();

  // 3. Top-k.
  const size_t k = params_.top_k > 0 ? std::min(n, static_cast<size_t>(params_.top_k)) : n;
  if (k < n) {
    select_most_likely(c, n, k, chunk_maxima_.data());
    n = k;
  }
  const float max_logit = std::max_element(c, c + n, [](const Candidate& a, const Candidate& b) {
                            return a.logit < b.logit;
                          })->logit;

  // 5, done early: min-p keeps p_i >= min_p * p_max, i.e. logit_i >= max + log(min_p). Its
  // survivors are a prefix of the sorted order and top-p also cuts a prefix, so the result is
  // the shorter prefix either way; filtering first spares sorting the whole vocabulary.
  // The threshold never exceeds the maximum: the best token always survives.
  size_t m = n;
  if (params_.min_p > 0.0f) {
    const float min_logit = std::min(max_logit, max_logit + std::log(params_.min_p));
    m = static_cast<size_t>(std::partition(c, c + n, [&](const Candidate& x) { return x.logit >= min_logit; }) - c);
  }
  std::sort(c, c + m, more_likely);

  // 4. Top-p on probabilities at temperature 1 over all top-k survivors (min-p's rejects
  // included, as when it runs after top-p); the token that crosses p is kept.
  if (params_.top_p < 1.0f) {
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += std::exp(c[i].logit - max_logit);
    const float inv = static_cast<float>(1.0 / sum);
    float cumulative = 0.0f;
    for (size_t i = 0; i < m; ++i) {
      cumulative += std::exp(c[i].logit - max_logit) * inv;
      if (cumulative >= params_.top_p) {
        m = i + 1;
        break;
      }
    }
  }
  return m;
}

int32_t Sampler::draw(size_t n) {
  Candidate* c = candidates_.data();
  // 6. Temperature (dividing keeps the order, so the buffer stays sorted).
  for (size_t i = 0; i < n; ++i) c[i].logit /= params_.temperature;
  softmax_sorted(c, n);

  // 7. Inverse-CDF draw; the last survivor absorbs rounding so the loop always returns.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  double cumulative = 0.0;
  for (size_t i = 0; i + 1 < n; ++i) {
    cumulative += c[i].p;
    if (u < cumulative) return c[i].id;
  }
  return c[n - 1].id;
}

}  // namespace swapmoe
