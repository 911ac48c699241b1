// Splits a template into text and the tokens inside {{ }} and {% %}, applying jinja2's
// whitespace rules as transformers and llama.cpp configure them: trim_blocks and lstrip_blocks
// on, `-` strips whitespace on its side of a tag, one trailing newline of the source dropped.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace swapmoe::jinja {

// A problem at a place in the template; the message names the construct.
class TemplateError : public std::runtime_error {
 public:
  TemplateError(int line, int column, const std::string& what)
      : std::runtime_error(what), line(line), column(column) {}
  int line, column;  // 1-based; 0 when unknown
};

enum class TokenType { TEXT, VAR_BEGIN, VAR_END, BLOCK_BEGIN, BLOCK_END, NAME, STRING, INT, FLOAT, OP, END };

struct Token {
  TokenType type;
  std::string text;  // TEXT: the text; STRING: the unescaped value; NAME/OP/INT/FLOAT: as written
  int line = 0, column = 0;
};

std::vector<Token> tokenize(std::string_view source);

}  // namespace swapmoe::jinja
