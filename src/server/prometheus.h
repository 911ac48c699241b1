// Prometheus text exposition (format 0.0.4): a thread-safe histogram that request threads
// observe into, and a writer for counter, gauge and histogram families with HELP and TYPE.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace swapmoe::server {

class Histogram {
 public:
  struct Snapshot {
    std::vector<double> upper_bounds;  // (n) finite, increasing; +Inf is implied after them
    std::vector<uint64_t> cumulative;  // (n + 1) observations <= each bound, the last one is +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };

  // Throws swapmoe::Error unless the bounds are finite and strictly increasing.
  explicit Histogram(std::vector<double> upper_bounds);

  // Counts `value` in the first bucket whose bound is >= value. NaN is dropped: it would turn
  // the sum into NaN for the life of the process.
  void observe(double value);
  Snapshot snapshot() const;

 private:
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // (n + 1) per bucket, not cumulative
  double sum_ = 0;
};

// Builds the text of one scrape. Samples of a family must be written one after another (the
// format requires it): a repeated call with the same name adds a sample without repeating
// HELP and TYPE; a name that comes back after another family, or with another type, throws
// swapmoe::Error, as do invalid metric or label names.
class PrometheusText {
 public:
  using Labels = std::map<std::string, std::string>;

  void counter(std::string_view name, std::string_view help, double value, const Labels& labels = {});
  void gauge(std::string_view name, std::string_view help, double value, const Labels& labels = {});
  // Writes name_bucket{le="..."} per bound and +Inf, name_sum and name_count.
  void histogram(std::string_view name, std::string_view help, const Histogram::Snapshot& s, const Labels& labels = {});

  const std::string& text() const { return text_; }

 private:
  void begin_family(std::string_view name, std::string_view help, std::string_view type);
  void sample(std::string_view name, const Labels& labels, std::string_view le, std::string_view value);

  std::string text_;
  std::string family_;                 // the family written last
  std::string family_type_;            // and its type
  std::vector<std::string> finished_;  // families written before it
};

// A number as Prometheus reads it: integers without a fraction ("42"), else the shortest text
// that reads back as the same double ("0.25", "1e+20"), "+Inf", "-Inf", "NaN".
std::string prometheus_number(double v);

}  // namespace swapmoe::server
