// A Jinja chat template, parsed once and rendered for each conversation with jinja2's
// semantics as transformers configures it (trim_blocks, lstrip_blocks, tojson without HTML
// escaping, raise_exception and strftime_now as globals). Output is meant to match
// python3-jinja2 byte for byte; constructs outside the supported subset fail at parse time
// with the line and column, never by rendering something else.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "chat/jinja_ast.h"
#include "chat/jinja_value.h"

namespace swapmoe::jinja {

struct RenderOptions {
  std::optional<std::time_t> now;  // strftime_now's clock (local time); unset: the current time
};

class Template {
 public:
  // Parses `source`; throws swapmoe::Error "[chat template] NAME:LINE:COLUMN: what" when the
  // template has a syntax error or uses something unsupported.
  Template(std::string_view source, std::string name);

  // Renders with `context` (a dict) as the template's variables. Throws swapmoe::Error with the
  // place for runtime errors, including the template's own raise_exception().
  std::string render(const Value& context, const RenderOptions& options = {}) const;

  const std::string& name() const { return name_; }

 private:
  std::string name_;
  Body body_;
};

}  // namespace swapmoe::jinja
