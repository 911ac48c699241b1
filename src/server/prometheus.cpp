// Histogram and the Prometheus text writer.
#include "server/prometheus.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "core/error.h"

namespace swapmoe::server {

namespace {

constexpr const char* k_where = "metrics";

bool is_name(std::string_view s, bool colon_allowed) {
  auto first = [&](char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || (colon_allowed && c == ':');
  };
  auto rest = [&](char c) { return first(c) || std::isdigit(static_cast<unsigned char>(c)); };
  return !s.empty() && first(s[0]) && std::all_of(s.begin() + 1, s.end(), rest);
}

// HELP text escapes backslash and newline; label values also escape the double quote.
std::string escaped(std::string_view s, bool quote) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"' && quote)
      out += "\\\"";
    else
      out += c;
  }
  return out;
}

}  // namespace

std::string prometheus_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Below 2^53 every integer is exact; fmt would write 1e+06 for a million requests otherwise.
  if (v == std::floor(v) && std::abs(v) < 0x1p53) return fmt::format("{}", static_cast<int64_t>(v));
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that round-trips
  return std::string(buf, r.ptr);
}

// ---- Histogram -------------------------------------------------------------------------------

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && !(bounds_[i] > bounds_[i - 1])))
      fail(k_where, "histogram bounds must be finite and strictly increasing", "+Inf is implied; do not list it");
  }
}

void Histogram::observe(double value) {
  if (std::isnan(value)) return;
  const size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();  // value <= bound
  std::lock_guard lock(mu_);
  ++counts_[bucket];
  sum_ += value;
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.upper_bounds = bounds_;
  s.cumulative.resize(counts_.size());
  std::lock_guard lock(mu_);
  uint64_t running = 0;
  for (size_t i = 0; i < counts_.size(); ++i) s.cumulative[i] = running += counts_[i];
  s.count = running;
  s.sum = sum_;
  return s;
}

// ---- PrometheusText --------------------------------------------------------------------------

void PrometheusText::begin_family(std::string_view name, std::string_view help, std::string_view type) {
  if (!is_name(name, true)) fail(k_where, fmt::format("'{}' is not a valid metric name", name));
  if (name == family_) {  // another sample of the family just written
    if (type != family_type_) fail(k_where, fmt::format("'{}' is written as both {} and {}", name, family_type_, type));
    return;
  }
  if (std::find(finished_.begin(), finished_.end(), name) != finished_.end())
    fail(k_where, fmt::format("samples of '{}' are split by another family", name),
         "write each family's samples together");
  if (!family_.empty()) finished_.push_back(family_);
  family_ = name;
  family_type_ = type;
  text_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escaped(help, false), name, type);
}

void PrometheusText::sample(std::string_view name, const Labels& labels, std::string_view le, std::string_view value) {
  text_ += name;
  if (!labels.empty() || !le.empty()) {
    text_ += '{';
    const char* separator = "";
    for (const auto& [key, val] : labels) {
      if (!is_name(key, false) || key.starts_with("__") || key == "le")
        fail(k_where, fmt::format("'{}' is not a valid label name for '{}'", key, name));
      text_ += fmt::format("{}{}=\"{}\"", separator, key, escaped(val, true));
      separator = ",";
    }
    if (!le.empty()) text_ += fmt::format("{}le=\"{}\"", separator, le);
    text_ += '}';
  }
  text_ += ' ';
  text_ += value;
  text_ += '\n';
}

void PrometheusText::counter(std::string_view name, std::string_view help, double value, const Labels& labels) {
  begin_family(name, help, "counter");
  sample(name, labels, {}, prometheus_number(value));
}

void PrometheusText::gauge(std::string_view name, std::string_view help, double value, const Labels& labels) {
  begin_family(name, help, "gauge");
  sample(name, labels, {}, prometheus_number(value));
}

void PrometheusText::histogram(std::string_view name, std::string_view help, const Histogram::Snapshot& s,
                               const Labels& labels) {
  begin_family(name, help, "histogram");
  const std::string base(name);
  for (size_t i = 0; i < s.cumulative.size(); ++i) {
    const std::string le = i < s.upper_bounds.size() ? prometheus_number(s.upper_bounds[i]) : "+Inf";
    sample(base + "_bucket", labels, le, fmt::format("{}", s.cumulative[i]));
  }
  sample(base + "_sum", labels, {}, prometheus_number(s.sum));
  sample(base + "_count", labels, {}, fmt::format("{}", s.count));
}

}  // namespace swapmoe::server
