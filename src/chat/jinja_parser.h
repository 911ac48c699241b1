// Builds the statement tree of a template from its tokens, with jinja2's operator precedence
// (filters and tests bind tighter than arithmetic, `not` looser than comparisons). Anything
// outside the supported subset is a TemplateError naming the construct and where it is.
#pragma once

#include <vector>

#include "chat/jinja_ast.h"
#include "chat/jinja_lexer.h"

namespace swapmoe::jinja {

Body parse(const std::vector<Token>& tokens);

}  // namespace swapmoe::jinja
