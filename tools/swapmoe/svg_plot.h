// A small dependency-free SVG line chart: side-by-side panels, one polyline per series, like
// the paper's figure 7 (quality vs memory, speed vs memory, one line per policy).
#pragma once

#include <string>
#include <vector>

namespace swapmoe::cli {

struct PlotPoint {
  double x = 0, y = 0;
};

struct PlotSeries {
  std::string name;
  std::vector<PlotPoint> points;  // drawn in x order; a single point is drawn as a marker only
};

struct PlotPanel {
  std::string title;
  std::string x_label, y_label;
  std::vector<PlotSeries> series;
  bool log_y = false;  // for figures spanning decades (perplexity of a pruned model)
};

// Round tick positions ("nice numbers": 1, 2, 5 x 10^k) covering [lo, hi], about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

// Log-axis ticks: 1, 2, 5 x 10^k from the one at or below lo to the one at or above hi.
std::vector<double> log_ticks(double lo, double hi);

// The whole figure as an SVG document. Series with the same name share a colour across panels.
// Non-finite values are skipped, so a missing figure (e.g. no perplexity) leaves a gap.
std::string render_svg(const std::vector<PlotPanel>& panels, const std::string& title);

// Escapes &, <, >, " for use in SVG text and attributes.
std::string xml_escape(const std::string& s);

}  // namespace swapmoe::cli
