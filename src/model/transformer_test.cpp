// The forward pass against an independent, straightforward float64 implementation.
#include "model/transformer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <vector>
#include <fmt/format.h>

#include "core/error.h"
#include "model/synth_model.h"

namespace swapmoe {
namespace {

std::string temp_model(const SynthSpec& spec, const std::string& name) {
  auto path = std::filesystem::temp_directory_path() / ("swapmoe_" + name + "_" + std::to_string(::getpid()) + ".gguf");
  write_synth_model(spec, path.string(), 2);
  return path.string();
}

// A naive float64 llama/Mixtral forward pass over the whole sequence, from the GGUF tensors.
class ReferenceModel {
 public:
  explicit ReferenceModel(const Model& m) : m_(m), c_(m.config()) {}

  std::vector<double> load(const TensorView& v) const {
    std::vector<float> f(v.n_elements());
    type_traits(v.type).to_float(v.data, f.data(), v.n_elements());
    return {f.begin(), f.end()};
  }

  // y = W x, W stored as n_out rows of n_in
  static std::vector<double> mv(const std::vector<double>& w, const std::vector<double>& x, int64_t n_in) {
    const int64_t n_out = static_cast<int64_t>(w.size()) / n_in;
    std::vector<double> y(n_out, 0.0);
    for (int64_t r = 0; r < n_out; ++r)
      for (int64_t i = 0; i < n_in; ++i) y[r] += w[r * n_in + i] * x[i];
    return y;
  }

  std::vector<double> norm(const std::vector<double>& x, const TensorView& w) const {
    std::vector<double> wv = load(w), out(x.size());
    double ss = 0;
    for (double v : x) ss += v * v;
    const double s = 1.0 / std::sqrt(ss / x.size() + c_.rms_eps);
    for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] * s * wv[i];
    return out;
  }

  // Normal mode rotates (x[2i], x[2i+1]), NEOX mode (x[i], x[i + n_rot/2]), both by pos * base^(-2i/n_rot)
  // (rope_at); with YaRN, pair i's frequency mixes the interpolated (/ factor) and the original one
  // by a linear ramp between the correction dims, and cos and sin are scaled (rope_magnitude).
  void rope(std::vector<double>& v, int64_t n_heads, int64_t pos) const {
    for (int64_t h = 0; h < n_heads; ++h) rope_at(&v[h * c_.head_dim], pos);
  }

  void add(std::vector<double>& x, const TensorView& bias) const {
    if (!bias.data) return;
    auto b = load(bias);
    for (size_t i = 0; i < x.size(); ++i) x[i] += b[i];
  }

  // q/k RMSNorm per head (Qwen3) or over the whole projection (OLMoE).
  void qk_norm(std::vector<double>& v, const TensorView& w, QkNorm mode) const {
    if (mode == QkNorm::WHOLE) v = norm(v, w);
    if (mode != QkNorm::PER_HEAD) return;
    const int64_t hd = c_.head_dim;
    for (size_t h = 0; h * hd < v.size(); ++h) {
      auto head = norm(std::vector<double>(v.begin() + h * hd, v.begin() + (h + 1) * hd), w);
      std::copy(head.begin(), head.end(), v.begin() + h * hd);
    }
  }

  // Grouped-query attention of every position, added to x.
  void attention_gqa(const LayerWeights& L, const LayerDesc& desc, std::vector<std::vector<double>>& x) const {
    const int64_t n = static_cast<int64_t>(x.size()), E = c_.n_embd, hd = c_.head_dim;
    auto wq = load(L.wq), wk = load(L.wk), wv = load(L.wv), wo = load(L.wo);
    std::vector<std::vector<double>> q(n), k(n), v(n);
    for (int64_t t = 0; t < n; ++t) {
      auto xn = norm(x[t], L.attn_norm);
      q[t] = mv(wq, xn, E);
      k[t] = mv(wk, xn, E);
      v[t] = mv(wv, xn, E);
      add(q[t], L.bq), add(k[t], L.bk), add(v[t], L.bv);
      qk_norm(q[t], L.q_norm, desc.qk_norm);
      qk_norm(k[t], L.k_norm, desc.qk_norm);
      rope(q[t], c_.n_head, t);
      rope(k[t], c_.n_head_kv, t);
    }
    for (int64_t t = 0; t < n; ++t) {
      std::vector<double> att(c_.n_head * hd, 0.0);
      for (int64_t h = 0; h < c_.n_head; ++h) {
        const int64_t kvh = h / (c_.n_head / c_.n_head_kv);
        // A sliding window sees the last `window` positions, itself included; a sink is one more
        // softmax logit with no value.
        // A vision model's image attends both ways: every token sees all of them.
        const int64_t first = desc.sliding_window > 0 ? std::max<int64_t>(0, t - desc.sliding_window + 1) : 0;
        const int64_t last = c_.is_vision() ? n - 1 : t;
        std::vector<double> s(last + 1, 0.0);
        double mx = desc.attn_sinks ? load(L.sinks)[h] : -INFINITY;
        for (int64_t j = first; j <= last; ++j) {
          double d = 0;
          for (int64_t i = 0; i < hd; ++i) d += q[t][h * hd + i] * k[j][kvh * hd + i];
          s[j] = d / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, s[j]);
        }
        double sum = desc.attn_sinks ? std::exp(load(L.sinks)[h] - mx) : 0.0;
        for (int64_t j = first; j <= last; ++j) sum += (s[j] = std::exp(s[j] - mx));
        for (int64_t j = first; j <= last; ++j)
          for (int64_t i = 0; i < hd; ++i) att[h * hd + i] += s[j] / sum * v[j][kvh * hd + i];
      }
      auto o = mv(wo, att, c_.n_head * hd);
      add(o, L.bo);
      for (int64_t i = 0; i < E; ++i) x[t][i] += o[i];
    }
  }

  // Multi-head latent attention written out without llama.cpp's absorption: each head's keys and
  // values decompressed from the cached latent (k = k_b^T latent | k_pe, v = v_b latent).
  void attention_mla(const LayerWeights& L, std::vector<std::vector<double>>& x) const {
    const int64_t n = static_cast<int64_t>(x.size()), E = c_.n_embd, H = c_.n_head, rank = c_.kv_lora_rank;
    const int64_t rot = c_.n_rot, nope = c_.qk_nope(), kd = c_.head_dim_k_mla, vd = c_.head_dim_v_mla;
    const auto wkv_a = load(L.wkv_a_mqa), wk_b = load(L.wk_b), wv_b = load(L.wv_b), wo = load(L.wo);
    std::vector<std::vector<double>> q(n), latent(n), k_pe(n);
    for (int64_t t = 0; t < n; ++t) {
      auto xn = norm(x[t], L.attn_norm);
      if (c_.q_lora_rank > 0) q[t] = mv(load(L.wq_b), norm(mv(load(L.wq_a), xn, E), L.q_a_norm), c_.q_lora_rank);
      else q[t] = mv(load(L.wq), xn, E);
      auto kv = mv(wkv_a, xn, E);
      latent[t] = norm(std::vector<double>(kv.begin(), kv.begin() + rank), L.kv_a_norm);
      k_pe[t].assign(kv.begin() + rank, kv.end());
      rope_at(k_pe[t].data(), t);
      for (int64_t h = 0; h < H; ++h) rope_at(&q[t][h * kd + nope], t);
    }
    for (int64_t t = 0; t < n; ++t) {
      std::vector<double> att(H * vd, 0.0);
      for (int64_t h = 0; h < H; ++h) {
        std::vector<double> s(t + 1);
        for (int64_t j = 0; j <= t; ++j) {
          double d = 0;
          for (int64_t i = 0; i < nope; ++i) {
            double k = 0;  // k_b of head h is rank rows of nope values
            for (int64_t r = 0; r < rank; ++r) k += wk_b[(h * rank + r) * nope + i] * latent[j][r];
            d += q[t][h * kd + i] * k;
          }
          for (int64_t i = 0; i < rot; ++i) d += q[t][h * kd + nope + i] * k_pe[j][i];
          s[j] = d * mla_scale();
        }
        const double mx = *std::max_element(s.begin(), s.end());
        double sum = 0;
        for (double& e : s) sum += (e = std::exp(e - mx));
        for (int64_t j = 0; j <= t; ++j)
          for (int64_t o = 0; o < vd; ++o) {
            double v = 0;  // v_b of head h is vd rows of rank values
            for (int64_t r = 0; r < rank; ++r) v += wv_b[(h * vd + o) * rank + r] * latent[j][r];
            att[h * vd + o] += s[j] / sum * v;
          }
      }
      auto o = mv(wo, att, H * vd);
      for (int64_t i = 0; i < E; ++i) x[t][i] += o[i];
    }
  }

  // The router as DeepSeek and llama.cpp define it, which covers the others: probabilities
  // (softmax or sigmoid), selection values (plus the bias), the best groups by the sum of their two
  // best values, the top-k of the selection values in those groups, weighted by their
  // probabilities (renormalised when the rule says so) times the scale.
  std::vector<std::pair<int, double>> route_ref(const std::vector<double>& logits, const TensorView& bias) const {
    const int64_t E = c_.n_expert;
    std::vector<double> probs(E), select(E);
    const double mx = *std::max_element(logits.begin(), logits.end());
    double total = 0;
    for (int64_t e = 0; e < E; ++e) total += std::exp(logits[e] - mx);
    for (int64_t e = 0; e < E; ++e)
      probs[e] = c_.router.gating == GatingFn::SIGMOID ? 1 / (1 + std::exp(-logits[e])) : std::exp(logits[e] - mx) / total;
    const auto b = bias.data ? load(bias) : std::vector<double>(E, 0.0);
    for (int64_t e = 0; e < E; ++e) select[e] = probs[e] + b[e];
    if (c_.router.n_groups > 1) {
      const int64_t G = c_.router.n_groups, per = E / G;
      std::vector<std::pair<double, int64_t>> groups;
      for (int64_t g = 0; g < G; ++g) {
        std::vector<double> v(select.begin() + g * per, select.begin() + (g + 1) * per);
        std::sort(v.rbegin(), v.rend());
        groups.push_back({-(v[0] + v[1]), g});
      }
      std::sort(groups.begin(), groups.end());
      std::vector<bool> keep(G, false);
      for (int j = 0; j < c_.router.n_groups_used; ++j) keep[groups[j].second] = true;
      for (int64_t e = 0; e < E; ++e)
        if (!keep[e / per]) select[e] = -1e300;
    }
    std::vector<int> idx(E);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return select[a] > select[b]; });
    double sum = 0;
    for (int j = 0; j < c_.n_expert_used; ++j) sum += probs[idx[j]];
    std::vector<std::pair<int, double>> chosen;
    for (int j = 0; j < c_.n_expert_used; ++j)
      chosen.push_back({idx[j], probs[idx[j]] / (c_.router.normalize ? sum : 1.0) * c_.router.scale});
    return chosen;
  }

  // YaRN's magnitude as transformers writes it: mscale(s, m) = 0.1 m ln(s) + 1; cos and sin are
  // scaled by mscale(factor, 1), or with a log multiplier (mscale_all_dims) by
  // mscale(factor, m) / mscale(factor, log_mul), m the log multiplier itself for DeepSeek-V2.
  static double yarn_mscale(double factor, double m) { return factor <= 1 ? 1.0 : 0.1 * m * std::log(factor) + 1.0; }
  double rope_magnitude() const {
    const RopeScaling& r = c_.rope_scaling;
    if (r.type != RopeScalingType::YARN) return 1.0;
    if (r.yarn_log_mul == 0) return yarn_mscale(r.factor, 1.0);
    return yarn_mscale(r.factor, r.yarn_log_mul_is_mscale ? r.yarn_log_mul : 1.0) / yarn_mscale(r.factor, r.yarn_log_mul);
  }
  // MLA's softmax scale: 1/sqrt(head_dim_k_mla), times (rotation magnitude * mscale(factor,
  // log_mul))^2 with YaRN, as llama.cpp's deepseek2 graph has it (transformers: mscale(factor,
  // mscale_all_dims)^2, the same when the rotation keeps magnitude 1).
  double mla_scale() const {
    const RopeScaling& r = c_.rope_scaling;
    const double m = r.type == RopeScalingType::YARN ? rope_magnitude() * yarn_mscale(r.factor, r.yarn_log_mul) : 1.0;
    return m * m / std::sqrt(static_cast<double>(c_.head_dim_k_mla));
  }

  // Rotates one n_rot-wide part at position pos.
  void rope_at(double* v, int64_t pos) const {
    const int64_t half = c_.n_rot / 2;
    const RopeScaling& r = c_.rope_scaling;
    const bool yarn = r.type == RopeScalingType::YARN;
    const double base = c_.rope_freq_base, n = static_cast<double>(c_.n_rot), factor = yarn ? r.factor : 1.0;
    auto corr_dim = [&](double rotations) {
      return n * std::log(static_cast<double>(r.n_ctx_orig) / (rotations * 2 * M_PI)) / (2 * std::log(base));
    };
    const double low = yarn ? std::max(0.0, std::floor(corr_dim(r.yarn_beta_fast))) : 0.0;
    const double high = yarn ? std::min(n - 1, std::ceil(corr_dim(r.yarn_beta_slow))) : 0.0;
    const double mscale = rope_magnitude();
    const bool neox = c_.rope_mode == RopeMode::NEOX;
    for (int64_t i = 0; i < half; ++i) {
      const double freq = std::pow(base, -2.0 * i / c_.n_rot);
      const double keep = yarn ? 1.0 - std::clamp((i - low) / std::max(0.001, high - low), 0.0, 1.0) : 1.0;
      const double theta = pos * (freq / factor * (1 - keep) + freq * keep);
      double& a = v[neox ? i : 2 * i];
      double& b = v[neox ? i + half : 2 * i + 1];
      const double x0 = a, x1 = b;
      a = (x0 * std::cos(theta) - x1 * std::sin(theta)) * mscale;
      b = (x0 * std::sin(theta) + x1 * std::cos(theta)) * mscale;
    }
  }

  // Logits of every position.
  std::vector<std::vector<double>> forward(const std::vector<int32_t>& tokens) const {
    const int64_t n = static_cast<int64_t>(tokens.size()), E = c_.n_embd;
    std::vector<double> emb = load(m_.tok_embd);
    std::vector<std::vector<double>> x(n);
    for (int64_t t = 0; t < n; ++t) x[t].assign(emb.begin() + tokens[t] * E, emb.begin() + (tokens[t] + 1) * E);
    run_layers(x);
    auto head = load(m_.output);
    std::vector<std::vector<double>> logits(n);
    for (int64_t t = 0; t < n; ++t) logits[t] = mv(head, norm(x[t], m_.output_norm), E);
    return logits;
  }

  // A vision model's class logits for one image of normalised pixels [channel][row][column], as
  // docs/vmoe-format.md writes the forward pass out.
  std::vector<double> forward_image(const std::vector<double>& pixels) const {
    const VisionConfig& v = c_.vision;
    const int64_t E = c_.n_embd, P = v.patch_size, side = v.patches_per_side(), S = v.image_size;
    const auto wp = load(m_.patch_embd), bp = load(m_.patch_embd_b), cls = load(m_.cls_embd), pos = load(m_.pos_embd);
    std::vector<std::vector<double>> x(v.n_tokens());
    x[0] = cls;
    for (int64_t py = 0; py < side; ++py)
      for (int64_t px = 0; px < side; ++px) {
        std::vector<double> patch;
        for (int64_t ch = 0; ch < v.n_channels; ++ch)
          for (int64_t y = 0; y < P; ++y)
            for (int64_t xx = 0; xx < P; ++xx) patch.push_back(pixels[(ch * S + py * P + y) * S + px * P + xx]);
        x[1 + py * side + px] = mv(wp, patch, v.patch_values());
        for (int64_t i = 0; i < E; ++i) x[1 + py * side + px][i] += bp[i];
      }
    for (int64_t t = 0; t < v.n_tokens(); ++t)
      for (int64_t i = 0; i < E; ++i) x[t][i] += pos[t * E + i];
    run_layers(x);
    auto logits = mv(load(m_.output), norm(x[0], m_.output_norm), E);
    add(logits, m_.output_b);
    return logits;
  }

  void run_layers(std::vector<std::vector<double>>& x) const {
    const int64_t n = static_cast<int64_t>(x.size()), E = c_.n_embd;
    for (int64_t l = 0; l < c_.n_layer; ++l) {
      const LayerWeights& L = m_.layers[l];
      const LayerDesc& desc = c_.layers[l];
      if (c_.is_mla()) attention_mla(L, x);
      else attention_gqa(L, desc, x);
      for (int64_t t = 0; t < n; ++t) {
        auto xn = norm(x[t], desc.post_attn_norm ? L.post_attn_norm : L.ffn_norm);
        std::vector<double> out(E, 0.0);
        // An expert's biases, when it has them, are row e of the layer's bias tensors.
        auto bias_row = [&](const TensorView& b, int e, int64_t dim) {
          if (!b.data || e < 0) return std::vector<double>(dim, 0.0);  // e < 0: not a routed expert
          auto all = load(b);
          return std::vector<double>(all.begin() + e * dim, all.begin() + (e + 1) * dim);
        };
        auto expert = [&](const std::vector<double>& g, const std::vector<double>& u, const std::vector<double>& d,
                          double weight, int e, FfnAct act) {
          auto gv = mv(g, xn, E), uv = mv(u, xn, E);
          const int64_t ff = static_cast<int64_t>(gv.size());
          auto gb = bias_row(L.gate_exps_b, e, ff), ub = bias_row(L.up_exps_b, e, ff), db = bias_row(L.down_exps_b, e, E);
          for (int64_t i = 0; i < ff; ++i) {
            const double gi = gv[i] + gb[i], ui = uv[i] + ub[i];
            if (act == FfnAct::SWIGLU_OAI) {
              const double gc = std::min(gi, 7.0), uc = std::clamp(ui, -7.0, 7.0);
              gv[i] = gc / (1 + std::exp(-1.702 * gc)) * (uc + 1);
            } else {
              gv[i] = gi / (1 + std::exp(-gi)) * ui;
            }
          }
          auto dv = mv(d, gv, ff);
          for (int64_t i = 0; i < E; ++i) out[i] += weight * (dv[i] + db[i]);
        };
        if (L.is_moe) {
          auto logits = mv(load(L.router), xn, E);
          add(logits, L.router_b);
          for (auto [e, weight] : route_ref(logits, L.exp_probs_b)) {
            ExpertWeights ew = L.expert(e);
            expert(load(ew.gate), load(ew.up), load(ew.down), weight, e, desc.act);
          }
          if (c_.layers[l].ffn == FfnKind::MOE_SHARED) {
            const double g = c_.layers[l].shared_gate ? 1 / (1 + std::exp(-mv(load(L.shexp_gate_inp), xn, E)[0])) : 1.0;
            expert(load(L.shexp_gate), load(L.shexp_up), load(L.shexp_down), g, -1, FfnAct::SWIGLU);
          }
        } else {
          expert(load(L.ffn_gate), load(L.ffn_up), load(L.ffn_down), 1.0, -1, FfnAct::SWIGLU);
        }
        for (int64_t i = 0; i < E; ++i) x[t][i] += out[i];
      }
    }
  }

 private:
  const Model& m_;
  const ModelConfig& c_;
};

void expect_close(const float* got, const std::vector<double>& want, double tol, const std::string& what) {
  double max_abs = 0, max_err = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_abs = std::max(max_abs, std::abs(want[i]));
    max_err = std::max(max_err, std::abs(got[i] - want[i]));
  }
  EXPECT_LT(max_err, tol * std::max(1.0, max_abs)) << what << ": max error " << max_err << " vs scale " << max_abs;
}

class TransformerTest : public ::testing::TestWithParam<const char*> {};

TEST_P(TransformerTest, MatchesFloat64Reference) {
  SynthSpec spec = synth_preset(GetParam());
  spec.n_vocab = 300;
  spec.n_head = 2, spec.n_head_kv = 1;  // heads of 32: a q8_0 cache's block
  const std::string path = temp_model(spec, GetParam());
  auto model = Model::load(path);
  const std::vector<int32_t> tokens = {1, 40, 41, 300 - 1, 7, 123, 5, 77, 12};
  ReferenceModel ref(*model);
  const auto want = ref.forward(tokens);
  const int64_t V = model->config().n_vocab;

  // The KV cache types: f32 is exact up to float rounding; f16 and q8_0 round keys and values;
  // f16 in both arithmetics (-fa on and off).
  const struct {
    GgmlType type;
    double tol;
    bool flash_attn;
  } caches[] = {{GgmlType::F32, 1e-4, true},
                {GgmlType::F16, 5e-3, true},
                {GgmlType::F16, 5e-3, false},
                {GgmlType::Q8_0, 5e-2, true}};
  for (const auto& cache : caches)
    for (int threads : {1, 3}) {
      const std::string what = std::string(type_name(cache.type)) + " cache, -fa " + (cache.flash_attn ? "on" : "off") +
                               ", " + std::to_string(threads) + " threads, ";
      ThreadPool pool(threads);
      pool.set_split_small_work(true);  // the threaded paths, though these models are small
      // Prefill of the first six in micro-batches of 4, then one token at a time.
      RunShape run;
      run.n_ctx = 32;
      run.n_ubatch = 4;
      run.type_k = run.type_v = cache.type;
      run.flash_attn = cache.flash_attn;
      Transformer tf(*model, run, pool);
      KvCache kv(model->config(), run);
      tf.forward_all(kv, {tokens.data(), 6}, 0, [&](int64_t first, int64_t n, const float* logits) {
        for (int64_t t = 0; t < n; ++t)
          expect_close(&logits[t * V], want[first + t], cache.tol, what + "prefill position " + std::to_string(first + t));
      });
      for (size_t t = 6; t < tokens.size(); ++t) {
        const float* logits = tf.forward(kv, {&tokens[t], 1}, static_cast<int64_t>(t));
        expect_close(logits, want[t], cache.tol, what + "decode position " + std::to_string(t));
      }
      EXPECT_EQ(tf.scratch_bytes(), scratch_sizes(model->config(), tf.run_shape()).bytes()) << what;
      EXPECT_EQ(kv.bytes(), kv_cache_bytes(model->config(), run)) << what;
    }
  std::filesystem::remove(path);
}

// -fa changes the arithmetic over an f16 cache only: with f32 rows both settings give the same
// bits, with f16 rows the non-flash rounding of the query and the softmax weights shows.
TEST_P(TransformerTest, FlashAttentionSettingChangesOnlyTheF16Arithmetic) {
  SynthSpec spec = synth_preset(GetParam());
  spec.n_vocab = 300;
  const std::string path = temp_model(spec, std::string(GetParam()) + "-fa");
  auto model = Model::load(path);
  const int64_t V = model->config().n_vocab;
  const std::vector<int32_t> tokens = {1, 40, 41, 299, 7, 123, 5, 77, 12};
  ThreadPool pool(1);
  for (GgmlType type : {GgmlType::F32, GgmlType::F16}) {
    std::vector<std::vector<float>> logits;
    for (bool fa : {true, false}) {
      RunShape run;
      run.n_ctx = 16;
      run.type_k = run.type_v = type;
      run.flash_attn = fa;
      Transformer tf(*model, run, pool);
      KvCache kv(model->config(), run);
      const float* l = tf.forward(kv, tokens, 0);
      logits.emplace_back(l, l + V);
    }
    if (type == GgmlType::F32) EXPECT_EQ(logits[0], logits[1]);
    else EXPECT_NE(logits[0], logits[1]);
  }
  std::filesystem::remove(path);
}

// A batched decode step (one token of each of three sequences, at different positions, in one
// forward) gives each sequence the logits it gets on its own, over f32 and f16 caches (4 query
// heads a KV head: the f16 keys are scored 4 rows x 4 heads at a time where they can be).
TEST_P(TransformerTest, BatchedDecodeMatchesEachSequenceAlone) {
  SynthSpec spec = synth_preset(GetParam());
  spec.n_vocab = 300;
  spec.n_head = 4, spec.n_head_kv = 1;
  const std::string path = temp_model(spec, std::string(GetParam()) + "-batch");
  auto model = Model::load(path);
  const int64_t V = model->config().n_vocab;
  const std::vector<std::vector<int32_t>> prompts = {{1, 40, 41}, {1, 7}, {1, 123, 5, 77, 12, 9}};
  const std::vector<std::vector<int32_t>> next = {{3, 8, 299}, {100, 2, 4}, {60, 61, 62}};
  for (int threads : {1, 2})
  for (GgmlType cache : {GgmlType::F32, GgmlType::F16}) {
    ThreadPool pool(threads);
    pool.set_split_small_work(true);  // the threaded paths, though these models are small
    RunShape run;
    run.n_ctx = 16;
    run.n_ubatch = 4;
    run.type_k = run.type_v = cache;
    Transformer alone(*model, run, pool), batched(*model, run, pool);
    std::vector<KvCache> kv_alone, kv_batched;
    for (size_t i = 0; i < prompts.size(); ++i) {
      kv_alone.emplace_back(model->config(), run);
      kv_batched.emplace_back(model->config(), run);
      alone.forward(kv_alone[i], prompts[i], 0);
      batched.forward(kv_batched[i], prompts[i], 0);
    }
    for (size_t step = 0; step < next[0].size(); ++step) {
      std::vector<KvCache*> kvs;
      std::vector<int32_t> tokens;
      std::vector<int64_t> positions;
      for (size_t i = 0; i < prompts.size(); ++i) {
        kvs.push_back(&kv_batched[i]);
        tokens.push_back(next[i][step]);
        positions.push_back(static_cast<int64_t>(prompts[i].size() + step));
      }
      const float* got = batched.forward_batch(kvs, tokens, positions);
      const std::vector<float> rows(got, got + tokens.size() * V);
      for (size_t i = 0; i < prompts.size(); ++i) {
        const float* want = alone.forward(kv_alone[i], {&tokens[i], 1}, positions[i]);
        expect_close(&rows[i * V], std::vector<double>(want, want + V), 1e-4,
                     "sequence " + std::to_string(i) + " step " + std::to_string(step) + " threads " + std::to_string(threads) +
                         " cache " + type_name(cache));
      }
    }
    std::vector<KvCache*> too_many(5, &kv_batched[0]);
    std::vector<int32_t> toks(5, 1);
    std::vector<int64_t> pos = {10, 11, 12, 13, 14};
    EXPECT_THROW(batched.forward_batch(too_many, toks, pos), Error) << "more tokens than the micro-batch";
  }
  std::filesystem::remove(path);
}

// A server's step: one sequence's decode token, another's whole prompt and a third's two-token
// continuation in one forward. Each run's last logits have the bits of its sequence evaluated
// alone (every kernel's arithmetic for a token is independent of its neighbours in the batch),
// and the caches then continue as if filled alone.
TEST_P(TransformerTest, RunsOfSeveralSequencesGetTheBitsOfEachAlone) {
  SynthSpec spec = synth_preset(GetParam());
  spec.n_vocab = 300;
  const std::string path = temp_model(spec, std::string(GetParam()) + "-runs");
  auto model = Model::load(path);
  const int64_t V = model->config().n_vocab;
  const std::vector<std::vector<int32_t>> before = {{1, 40, 41}, {}, {1, 7}};
  const std::vector<std::vector<int32_t>> runs = {{5}, {1, 123, 5, 77, 12, 9}, {200, 3}};
  for (int threads : {1, 2})
    for (GgmlType cache : {GgmlType::F32, GgmlType::F16}) {
      ThreadPool pool(threads);
      pool.set_split_small_work(true);  // the threaded paths, though these models are small
      RunShape run;
      run.n_ctx = 16;
      run.n_ubatch = 12;
      run.type_k = run.type_v = cache;
      Transformer alone(*model, run, pool), together(*model, run, pool);
      std::vector<KvCache> kv_alone, kv_together;
      std::vector<Transformer::SequenceRun> batch;
      for (size_t i = 0; i < runs.size(); ++i) {
        kv_alone.emplace_back(model->config(), run);
        kv_together.emplace_back(model->config(), run);
      }
      for (size_t i = 0; i < runs.size(); ++i) {
        if (!before[i].empty()) {
          alone.forward(kv_alone[i], before[i], 0);
          together.forward(kv_together[i], before[i], 0);
        }
        batch.push_back({&kv_together[i], runs[i], static_cast<int64_t>(before[i].size())});
      }
      const float* got = together.forward_runs(batch);
      const std::vector<float> rows(got, got + runs.size() * V);
      const std::string where = std::string(" threads ") + std::to_string(threads) + " cache " + type_name(cache);
      for (size_t i = 0; i < runs.size(); ++i) {
        const float* want = alone.forward(kv_alone[i], runs[i], static_cast<int64_t>(before[i].size()));
        EXPECT_EQ(0, std::memcmp(&rows[i * V], want, V * sizeof(float))) << "run " << i << where;
      }
      // One more token each, alone: the batch filled the caches as the sequences alone did.
      for (size_t i = 0; i < runs.size(); ++i) {
        const int32_t next = 42;
        const int64_t pos = static_cast<int64_t>(before[i].size() + runs[i].size());
        const float* alone_logits = alone.forward(kv_alone[i], {&next, 1}, pos);
        const std::vector<float> want(alone_logits, alone_logits + V);
        const float* after = together.forward(kv_together[i], {&next, 1}, pos);
        EXPECT_EQ(0, std::memcmp(after, want.data(), V * sizeof(float))) << "after the batch, sequence " << i << where;
      }
      const std::vector<Transformer::SequenceRun> twice = {batch[0], batch[0]};
      EXPECT_THROW(together.forward_runs(twice), Error) << "one cache in two runs";
    }
  std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(Shapes, TransformerTest,
                         ::testing::Values("tiny", "tiny-dense", "tiny-qwen3moe", "tiny-olmoe", "tiny-qwen2moe",
                                           "tiny-gptoss", "tiny-deepseek2", "tiny-deepseek2-v3", "tiny-deepseek2-yarn"),
                         [](const auto& info) {
                           std::string name = std::string(info.param).substr(std::string(info.param).find('-') + 1);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// A generating run holds logits for one row a sequence, not for a whole micro-batch (297 MiB at
// -ub 512 over Qwen3's vocabulary). Every position's logits still come out, a few rows at a
// time, with the bits of a run that holds them all; the scratch shrinks by exactly the rows
// spared; a batched step of more sequences than rows is refused.
TEST(Transformer, FewerLogitsRowsGiveTheSameLogits) {
  SynthSpec spec = synth_preset("tiny-qwen3moe");
  spec.n_vocab = 300;
  const std::string path = temp_model(spec, "logit-rows");
  auto model = Model::load(path);
  std::filesystem::remove(path);
  const int64_t V = model->config().n_vocab;
  std::vector<int32_t> tokens;
  for (int i = 0; i < 21; ++i) tokens.push_back(1 + (i * 53) % 299);
  ThreadPool pool(2);
  pool.set_split_small_work(true);  // the threaded paths, though these models are small
  RunShape all, few;
  all.n_ctx = few.n_ctx = 32;
  all.n_ubatch = few.n_ubatch = 8;
  few.n_outputs = 3;
  EXPECT_EQ(logit_rows(all), 8);
  EXPECT_EQ(logit_rows(few), 3);
  Transformer tf_all(*model, all, pool), tf_few(*model, few, pool);
  EXPECT_EQ(tf_all.scratch_bytes() - tf_few.scratch_bytes(), static_cast<uint64_t>(5 * V) * sizeof(float));
  EXPECT_EQ(tf_few.scratch_bytes(), scratch_sizes(model->config(), tf_few.run_shape()).bytes());
  auto every_logit = [&](Transformer& tf) {
    KvCache kv(model->config(), tf.run_shape());
    std::vector<float> rows(tokens.size() * V, NAN);
    int64_t next = 0;
    tf.forward_all(kv, tokens, 0, [&](int64_t first, int64_t n, const float* logits) {
      EXPECT_EQ(first, next) << "rows in order, none skipped";
      EXPECT_LE(n, logit_rows(tf.run_shape()));
      std::copy(logits, logits + n * V, rows.begin() + first * V);
      next = first + n;
    });
    EXPECT_EQ(next, static_cast<int64_t>(tokens.size()));
    return rows;
  };
  const std::vector<float> want = every_logit(tf_all), got = every_logit(tf_few);
  EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)));
  // forward(): the last token's row, from its micro-batch (21 = 8 + 8 + 5 tokens).
  KvCache kv(model->config(), few);
  const float* last = tf_few.forward(kv, tokens, 0);
  EXPECT_EQ(0, std::memcmp(last, &want[20 * V], V * sizeof(float)));
  std::vector<KvCache> kvs;
  for (int i = 0; i < 4; ++i) kvs.emplace_back(model->config(), few);
  std::vector<KvCache*> four = {&kvs[0], &kvs[1], &kvs[2], &kvs[3]};
  std::vector<int32_t> toks = {1, 2, 3, 4};
  std::vector<int64_t> pos = {0, 0, 0, 0};
  EXPECT_THROW(tf_few.forward_batch(four, toks, pos), Error) << "4 sequences, 3 logits rows";
  EXPECT_NO_THROW(tf_few.forward_batch(std::span(four).first(3), std::span(toks).first(3), std::span(pos).first(3)));
}

// A model that fits the caches decodes on one thread: the hand-offs of a split cost more than a
// second core gives (transformer.cpp, kMinLayerWorkToSplit). Its bits are the split forward's.
TEST(Transformer, ASmallModelDecodesOnOneThread) {
  const std::string path = temp_model(synth_preset("tiny"), "solo");
  auto model = Model::load(path);
  std::filesystem::remove(path);
  RunShape run;
  run.n_ctx = 16;
  std::vector<int32_t> tokens = {1, 2, 3, 4, 5};
  std::vector<float> logits[2];
  int64_t runs[2];
  for (int split : {0, 1}) {
    ThreadPool pool(2);
    pool.set_split_small_work(split == 1);
    Transformer tf(*model, run, pool);
    KvCache kv(model->config(), run);
    const float* l = tf.forward(kv, tokens, 0);
    l = tf.forward(kv, {&tokens[0], 1}, 5);
    logits[split].assign(l, l + model->config().n_vocab);
    runs[split] = pool.parallel_runs();
  }
  EXPECT_EQ(runs[0], 0) << "a prompt of 5 tokens and a decode step of a small model run alone";
  EXPECT_GT(runs[1], 0);
  EXPECT_EQ(0, std::memcmp(logits[0].data(), logits[1].data(), logits[0].size() * sizeof(float)));
}

TEST(Transformer, RejectsPositionsPastTheContext) {
  const std::string path = temp_model(synth_preset("tiny"), "ctx");
  auto model = Model::load(path);
  ThreadPool pool(1);
  RunShape run;
  run.n_ctx = 4;
  Transformer tf(*model, run, pool);
  KvCache kv(model->config(), run);
  std::vector<int32_t> tokens = {1, 2, 3, 4, 5};
  EXPECT_THROW(tf.forward(kv, tokens, 0), Error);
  int32_t bad = static_cast<int32_t>(model->config().n_vocab);
  EXPECT_THROW(tf.forward(kv, {&bad, 1}, 0), Error);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace swapmoe

namespace swapmoe {
namespace {

// gpt-oss's sliding-window layers keep their window and a micro-batch as a ring: a sequence that
// wraps the ring several times still gives the float64 reference's logits, the cache is smaller
// than a full one, and a kept prefix is refused once the ring has overwritten rows it needs.
// MLA (deepseek2) keeps no value rows: the cache is built with an empty value buffer, whose
// null data() once reached memset (UBSan: null pointer passed as argument 1).
TEST(KvCacheMla, HasNoValueRowsAndBuildsCleanly) {
  SynthSpec spec = synth_preset("tiny-deepseek2");
  spec.n_vocab = 300;
  const std::string path = temp_model(spec, "tiny-deepseek2-kv");
  auto model = Model::load(path);
  std::filesystem::remove(path);  // the model holds what it needs; keep /tmp clean
  const ModelConfig& c = model->config();
  ASSERT_TRUE(c.is_mla());
  RunShape run;
  run.n_ctx = 16;
  run.type_k = run.type_v = GgmlType::F32;
  KvCache kv(c, run);
  EXPECT_EQ(kv.v_row_bytes(), 0u);
  EXPECT_GT(kv.bytes(), 0u);
  EXPECT_EQ(kv.bytes(), kv_cache_bytes(c, run));
}

TEST(SlidingWindowCache, RingWrapsAndStillMatchesTheReference) {
  SynthSpec spec = synth_preset("tiny-gptoss");  // window 4 on alternate layers
  spec.n_vocab = 300;
  const std::string path = temp_model(spec, "tiny-gptoss-ring");
  auto model = Model::load(path);
  const ModelConfig& c = model->config();
  std::vector<int32_t> tokens;
  for (int i = 0; i < 23; ++i) tokens.push_back(1 + (i * 37) % 299);
  const auto want = ReferenceModel(*model).forward(tokens);
  ThreadPool pool(2);
  pool.set_split_small_work(true);  // the threaded paths, though these models are small
  RunShape run;
  run.n_ctx = 32;
  run.n_ubatch = 3;
  run.type_k = run.type_v = GgmlType::F32;
  Transformer tf(*model, run, pool);
  KvCache kv(c, run);
  int64_t n_sliding = 0;
  for (const LayerDesc& layer : c.layers) n_sliding += layer.sliding_window > 0;
  ASSERT_GT(n_sliding, 0);
  EXPECT_EQ(kv_positions(c.layers[0].sliding_window > 0 ? c.layers[0] : c.layers[1], run), 4 + 3);
  EXPECT_EQ(kv.bytes(), kv_cache_bytes(c, run));
  EXPECT_LT(kv.bytes(), static_cast<uint64_t>(c.n_layer) * 32 * (kv.k_row_bytes() + kv.v_row_bytes()));

  tf.forward_all(kv, {tokens.data(), 11}, 0, [&](int64_t first, int64_t n, const float* logits) {
    for (int64_t t = 0; t < n; ++t)
      expect_close(&logits[t * c.n_vocab], want[first + t], 1e-4, "prefill position " + std::to_string(first + t));
  });
  for (size_t t = 11; t < tokens.size(); ++t)
    expect_close(tf.forward(kv, {&tokens[t], 1}, static_cast<int64_t>(t)), want[t], 1e-4,
                 "decode position " + std::to_string(t));

  // 23 positions evaluated, a ring of 7: positions below 16 are gone; continuing after position
  // k reads back to k - 3.
  EXPECT_EQ(kv.reusable_prefix(20, 23), 20);
  EXPECT_EQ(kv.reusable_prefix(19, 23), 19);
  EXPECT_EQ(kv.reusable_prefix(18, 23), 0);
  EXPECT_EQ(kv.reusable_prefix(0, 23), 0);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace swapmoe

namespace swapmoe {
namespace {

// Normalised pixels of `n` images, deterministic and varied.
std::vector<float> test_images(const VisionConfig& v, int64_t n) {
  std::vector<float> px(static_cast<size_t>(n * v.pixels()));
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<float>((i * 2654435761u) % 1000) / 500.0f - 1.0f;
  return px;
}

// A vision MoE (vmoe): patches and a class token, bidirectional attention, class logits. Images of
// one batch are independent of each other, and a batch gives the float64 reference's logits.
TEST(VisionTransformer, ClassLogitsMatchFloat64ReferenceInAnyBatch) {
  for (GgmlType type : {GgmlType::F32, GgmlType::Q8_0}) {
    SynthSpec spec = synth_preset("tiny-vmoe");
    spec.type = type;
    const std::string path = temp_model(spec, std::string("tiny-vmoe-") + type_name(type));
    auto model = Model::load(path);
    const ModelConfig& c = model->config();
    ASSERT_TRUE(c.is_vision());
    ASSERT_EQ(c.n_vocab, 10);
    ASSERT_EQ(c.n_moe_layers(), 2);
    const VisionConfig& v = c.vision;
    const int64_t n_img = 5, T = v.n_tokens();
    const std::vector<float> px = test_images(v, n_img);
    ReferenceModel ref(*model);
    std::vector<std::vector<double>> want;
    for (int64_t i = 0; i < n_img; ++i)
      want.push_back(ref.forward_image({px.begin() + i * v.pixels(), px.begin() + (i + 1) * v.pixels()}));
    // q8_0 weights take q8_0 activations, as llama.cpp's products do: not the float64 arithmetic.
    const double tol = type == GgmlType::F32 ? 1e-4 : 5e-2;
    for (int batch : {1, 2, 5})
      for (int threads : {1, 3}) {
        ThreadPool pool(threads);
        pool.set_split_small_work(true);  // the threaded paths, though these models are small
        RunShape run;
        run.n_ctx = T, run.n_ubatch = T * batch, run.n_sessions = batch;
        run.type_k = run.type_v = GgmlType::F32;
        Transformer tf(*model, run, pool);
        std::vector<std::unique_ptr<KvCache>> caches;
        std::vector<KvCache*> kvs;
        for (int i = 0; i < batch; ++i) kvs.push_back(caches.emplace_back(std::make_unique<KvCache>(c, run)).get());
        for (int64_t first = 0; first < n_img; first += batch) {
          const int64_t m = std::min<int64_t>(batch, n_img - first);
          const float* logits = tf.forward_images(std::span(kvs).first(m), &px[first * v.pixels()]);
          for (int64_t i = 0; i < m; ++i)
            expect_close(&logits[i * c.n_vocab], want[first + i], tol,
                         fmt::format("{} weights, batch {}, {} threads, image {}", type_name(type), batch, threads,
                                     first + i));
        }
        EXPECT_EQ(tf.scratch_bytes(), scratch_sizes(c, tf.run_shape()).bytes());
      }
    std::filesystem::remove(path);
  }
}

TEST(VisionTransformer, RefusesTokensAndBatchesOverTheMicroBatch) {
  const std::string path = temp_model(synth_preset("tiny-vmoe"), "tiny-vmoe-refuse");
  auto model = Model::load(path);
  const ModelConfig& c = model->config();
  ThreadPool pool(1);
  RunShape run;
  run.n_ctx = c.vision.n_tokens(), run.n_ubatch = c.vision.n_tokens(), run.type_k = run.type_v = GgmlType::F32;
  Transformer tf(*model, run, pool);
  KvCache kv(c, run);
  const int32_t token = 1;
  try {
    tf.forward(kv, {&token, 1}, 0);
    ADD_FAILURE() << "a vision model evaluated a token";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("classify"), std::string::npos) << e.what();
  }
  KvCache* two[] = {&kv, &kv};
  const std::vector<float> px = test_images(c.vision, 2);
  EXPECT_THROW(tf.forward_images(two, px.data()), Error);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace swapmoe
