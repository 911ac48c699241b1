#include "svg_plot.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include <fmt/format.h>

namespace swapmoe::cli {

namespace {

// Figure geometry in SVG user units.
constexpr double kPanelW = 420, kPanelH = 320;
constexpr double kLeft = 78, kRight = 20, kTop = 60, kBottom = 55;  // margins of one panel
constexpr double kLegendH = 28;

// Colour-blind-safe palette (Okabe-Ito), one per series name in order of first appearance.
constexpr const char* kColors[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                   "#E69F00", "#56B4E9", "#000000", "#F0E442"};

std::string tick_label(double v, double step) {
  if (v == 0) return "0";
  const double a = std::fabs(v);
  if (a >= 1e5 || a < 1e-3) return fmt::format("{:.2g}", v);
  const int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step)));
  return fmt::format("{:.{}f}", v, decimals);
}

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return !(lo <= hi); }
};

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {};
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) {
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    lo -= pad, hi += pad;
  }
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  const double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  std::vector<double> ticks;
  // From the last tick at or below lo to the first at or above hi, so that every point is inside.
  const double first = std::floor(lo / step + 1e-9) * step;
  for (int i = 0; i <= 100; ++i) {  // the bound guards against a degenerate step
    const double t = first + i * step;
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0 : t);
    if (t >= hi - step * 1e-9) break;
  }
  return ticks;
}

std::vector<double> log_ticks(double lo, double hi) {
  if (!(lo > 0) || !std::isfinite(hi) || hi < lo) return {};
  // 1, 2, 5 x 10^k inside [lo, hi], plus the decade (or 2/5 step) just outside each end.
  std::vector<double> all;
  for (int k = static_cast<int>(std::floor(std::log10(lo))) - 1; k <= static_cast<int>(std::ceil(std::log10(hi))); ++k)
    for (double m : {1.0, 2.0, 5.0}) all.push_back(m * std::pow(10.0, k));
  std::vector<double> ticks;
  for (size_t i = 0; i < all.size(); ++i) {
    const bool below_next = i + 1 < all.size() && all[i + 1] <= lo * (1 + 1e-9);
    if (below_next) continue;
    ticks.push_back(all[i]);
    if (all[i] >= hi * (1 - 1e-9)) break;
  }
  return ticks;
}

std::string render_svg(const std::vector<PlotPanel>& panels, const std::string& title) {
  const double width = kPanelW * static_cast<double>(std::max<size_t>(1, panels.size()));
  const double height = kPanelH + kLegendH + 10;
  std::map<std::string, const char*> color;
  std::vector<std::string> order;
  for (const PlotPanel& p : panels)
    for (const PlotSeries& s : p.series)
      if (!color.count(s.name)) {
        color[s.name] = kColors[order.size() % std::size(kColors)];
        order.push_back(s.name);
      }

  std::string svg = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{3}</text>\n",
      width, height, width / 2, xml_escape(title));

  for (size_t pi = 0; pi < panels.size(); ++pi) {
    const PlotPanel& p = panels[pi];
    const double ox = kPanelW * static_cast<double>(pi);
    const double x0 = ox + kLeft, x1 = ox + kPanelW - kRight, y0 = kTop + (kPanelH - kTop - kBottom), y1 = kTop;
    Range rx, ry;
    for (const PlotSeries& s : p.series)
      for (const PlotPoint& pt : s.points)
        if (std::isfinite(pt.x) && std::isfinite(pt.y)) rx.add(pt.x), ry.add(pt.y);
    svg += fmt::format("<g class=\"panel\" id=\"panel{}\">\n", pi);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"13\">{}</text>\n", (x0 + x1) / 2,
                       kTop - 12, xml_escape(p.title));
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n", x0, y1,
                       x1 - x0, y0 - y1);
    if (rx.empty() || ry.empty()) {
      svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n</g>\n",
                         (x0 + x1) / 2, (y0 + y1) / 2);
      continue;
    }
    // A log axis needs positive values; otherwise the panel falls back to a linear one.
    const bool log_y = p.log_y && ry.lo > 0;
    const std::vector<double> tx = nice_ticks(rx.lo, rx.hi);
    const std::vector<double> ty = log_y ? log_ticks(ry.lo, ry.hi) : nice_ticks(ry.lo, ry.hi);
    const double xlo = tx.front(), xhi = tx.back();
    auto fy = [&](double v) { return log_y ? std::log10(v) : v; };
    const double ylo = fy(ty.front()), yhi = fy(ty.back());
    auto sx = [&](double v) { return x0 + (v - xlo) / (xhi - xlo) * (x1 - x0); };
    auto sy = [&](double v) { return y0 - (fy(v) - ylo) / (yhi - ylo) * (y0 - y1); };
    const double xstep = tx.size() > 1 ? tx[1] - tx[0] : 1, ystep = ty.size() > 1 ? ty[1] - ty[0] : 1;
    for (double t : tx)
      svg += fmt::format(
          "<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#ddd\"/>"
          "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
          sx(t), y0, y1, y0 + 16, tick_label(t, xstep));
    for (double t : ty)
      svg += fmt::format(
          "<line x1=\"{0}\" y1=\"{2:.1f}\" x2=\"{1}\" y2=\"{2:.1f}\" stroke=\"#ddd\"/>"
          "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
          x0, x1, sy(t), x0 - 6, sy(t) + 4, tick_label(t, log_y ? t : ystep));
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", (x0 + x1) / 2, y0 + 36,
                       xml_escape(p.x_label));
    svg += fmt::format(
        "<text x=\"{0}\" y=\"{1}\" text-anchor=\"middle\" transform=\"rotate(-90 {0} {1})\">{2}</text>\n",
        ox + 14, (y0 + y1) / 2, xml_escape(p.y_label));

    for (const PlotSeries& s : p.series) {
      std::vector<PlotPoint> pts;
      for (const PlotPoint& pt : s.points)
        if (std::isfinite(pt.x) && std::isfinite(pt.y)) pts.push_back(pt);
      std::sort(pts.begin(), pts.end(), [](const PlotPoint& a, const PlotPoint& b) { return a.x < b.x; });
      const char* c = color[s.name];
      svg += fmt::format("<g class=\"series\" data-name=\"{}\">\n", xml_escape(s.name));
      if (pts.size() > 1) {
        std::string coords;
        for (const PlotPoint& pt : pts) coords += fmt::format("{:.1f},{:.1f} ", sx(pt.x), sy(pt.y));
        coords.pop_back();
        svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n", c, coords);
      }
      // A lone point (the full model) gets a larger marker so that it is not lost among lines.
      const double radius = pts.size() == 1 ? 5.5 : 3.5;
      for (const PlotPoint& pt : pts)
        svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{}\" fill=\"{}\"/>\n", sx(pt.x), sy(pt.y),
                           radius, c);
      svg += "</g>\n";
    }
    svg += "</g>\n";
  }

  // One legend for the whole figure, below the panels.
  double lx = kLeft;
  const double ly = kPanelH + kLegendH / 2;
  svg += "<g class=\"legend\">\n";
  for (const std::string& name : order) {
    svg += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\" stroke-width=\"2\"/>"
        "<circle cx=\"{4}\" cy=\"{1}\" r=\"3.5\" fill=\"{3}\"/>"
        "<text x=\"{5}\" y=\"{6}\">{7}</text>\n",
        lx, ly, lx + 24, color[name], lx + 12, lx + 30, ly + 4, xml_escape(name));
    lx += 40 + 7.5 * static_cast<double>(name.size());
  }
  svg += "</g>\n</svg>\n";
  return svg;
}

}  // namespace swapmoe::cli
