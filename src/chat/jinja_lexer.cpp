#include "chat/jinja_lexer.h"

#include <algorithm>
#include <cctype>

#include "chat/jinja_unicode.h"

namespace swapmoe::jinja {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// jinja2 reads templates with universal newlines and, without keep_trailing_newline, drops
// one final newline.
std::string normalize_newlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(normalize_newlines(source)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i)
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    size_t pos = 0;
    while (pos < src_.size()) {
      const size_t tag = find_tag(pos);
      std::string text = src_.substr(pos, tag - pos);
      if (tag == src_.size()) {
        emit(TokenType::TEXT, text, pos);
        break;
      }
      const char kind = src_[tag + 1];
      const char modifier = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      if (modifier == '-') {
        while (!text.empty() && is_space(text.back())) text.pop_back();
      } else if (modifier != '+' && kind != '{') {
        lstrip_block(text, pos);
      }
      emit(TokenType::TEXT, text, pos);
      size_t inner = tag + 2 + (modifier == '-' || modifier == '+' ? 1 : 0);
      if (kind == '#')
        pos = skip_comment(tag, inner);
      else
        pos = lex_tag(tag, inner, kind == '{');
    }
    out_.push_back({TokenType::END, "", line_of(src_.size()), column_of(src_.size())});
    return std::move(out_);
  }

 private:
  size_t find_tag(size_t pos) const {
    for (size_t i = pos; i + 1 < src_.size(); ++i)
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    return src_.size();
  }

  // lstrip_blocks: spaces and tabs between the start of a line and a block or comment tag go.
  void lstrip_block(std::string& text, size_t text_pos) const {
    const size_t nl = text.rfind('\n');
    const size_t line_start = nl == std::string::npos ? 0 : nl + 1;
    const bool at_line_start = line_start > 0 || text_pos == 0 || src_[text_pos - 1] == '\n';
    if (!at_line_start || line_start == text.size()) return;
    if (std::all_of(text.begin() + line_start, text.end(), is_space)) text.resize(line_start);
  }

  // After a block or comment end: `-` strips all following whitespace, else trim_blocks drops
  // one newline.
  size_t after_block_end(size_t pos, bool strip) const {
    if (strip) {
      while (pos < src_.size() && is_space(src_[pos])) ++pos;
    } else if (pos < src_.size() && src_[pos] == '\n') {
      ++pos;
    }
    return pos;
  }

  size_t skip_comment(size_t tag, size_t inner) {
    const size_t end = src_.find("#}", inner);
    if (end == std::string::npos) error(tag, "unclosed comment: '{#' without '#}'");
    const bool strip = end > inner && src_[end - 1] == '-';
    return after_block_end(end + 2, strip);
  }

  size_t lex_tag(size_t tag, size_t pos, bool variable) {
    emit(variable ? TokenType::VAR_BEGIN : TokenType::BLOCK_BEGIN, "", tag);
    const char close = variable ? '}' : '%';
    int depth = 0;  // as in jinja2, `}}` or `%}` only ends the tag outside brackets
    while (true) {
      while (pos < src_.size() && is_space(src_[pos])) ++pos;
      if (pos >= src_.size())
        error(tag, variable ? "unclosed expression: '{{' without '}}'" : "unclosed tag: '{%' without '%}'");
      const bool strip = src_[pos] == '-' && src_.compare(pos + 1, 2, std::string{close, '}'}) == 0;
      const bool keep = src_[pos] == '+' && src_.compare(pos + 1, 2, std::string{close, '}'}) == 0;
      if (depth == 0 && (strip || keep || src_.compare(pos, 2, std::string{close, '}'}) == 0)) {
        emit(variable ? TokenType::VAR_END : TokenType::BLOCK_END, "", pos);
        const size_t after = pos + (strip || keep ? 3 : 2);
        if (variable) {
          size_t p = after;
          if (strip)
            while (p < src_.size() && is_space(src_[p])) ++p;
          return p;
        }
        return after_block_end(after, strip);
      }
      pos = lex_token(pos);
      const Token& last = out_.back();
      if (last.type == TokenType::OP && (last.text == "(" || last.text == "[" || last.text == "{")) ++depth;
      if (last.type == TokenType::OP && (last.text == ")" || last.text == "]" || last.text == "}")) --depth;
    }
  }

  size_t lex_token(size_t pos) {
    const char c = src_[pos];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t end = pos;
      while (end < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[end])) || src_[end] == '_')) ++end;
      emit(TokenType::NAME, src_.substr(pos, end - pos), pos);
      return end;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) return lex_number(pos);
    if (c == '\'' || c == '"') return lex_string(pos);
    static const char* const kOperators[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "(",
                                             ")",  "[",  "]",  "{",  "}",  ",",  ".", ":", "|", "=", "<", ">"};
    for (const char* op : kOperators) {
      const std::string_view sv(op);
      if (src_.compare(pos, sv.size(), sv) == 0) {
        emit(TokenType::OP, std::string(sv), pos);
        return pos + sv.size();
      }
    }
    error(pos, std::string("unexpected character '") + c + "'");
  }

  size_t lex_number(size_t pos) {
    size_t end = pos;
    auto digits = [&] {
      while (end < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[end])) || src_[end] == '_')) ++end;
    };
    digits();
    bool is_float = false;
    if (end + 1 < src_.size() && src_[end] == '.' && std::isdigit(static_cast<unsigned char>(src_[end + 1]))) {
      is_float = true;
      ++end;
      digits();
    }
    if (end < src_.size() && (src_[end] == 'e' || src_[end] == 'E')) {
      size_t e = end + 1;
      if (e < src_.size() && (src_[e] == '+' || src_[e] == '-')) ++e;
      if (e < src_.size() && std::isdigit(static_cast<unsigned char>(src_[e]))) {
        is_float = true;
        end = e;
        digits();
      }
    }
    std::string text = src_.substr(pos, end - pos);
    text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
    emit(is_float ? TokenType::FLOAT : TokenType::INT, text, pos);
    return end;
  }

  // A string literal with Python's backslash escapes.
  size_t lex_string(size_t pos) {
    const char quote = src_[pos];
    std::string value;
    size_t i = pos + 1;
    // Exactly `count` hex digits, as Python requires (std::stoul would also take a sign, spaces
    // or fewer digits, and throw std::invalid_argument on none).
    auto hex = [&](size_t count) {
      const size_t at = i - 2;
      uint32_t cp = 0;
      for (size_t k = 0; k < count; ++k, ++i) {
        const char h = i < src_.size() ? src_[i] : '\0';
        const int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
        if (d < 0)
          error(at, std::string("truncated \\") + src_[at + 1] + " escape in string literal: " + std::to_string(count) +
                        " hex digits expected");
        cp = cp << 4 | static_cast<uint32_t>(d);
      }
      if (cp > 0x10FFFF) error(at, "illegal Unicode character in string literal: above U+10FFFF");
      append_utf8(value, cp);
    };
    while (true) {
      if (i >= src_.size()) error(pos, "unclosed string literal");
      const char c = src_[i];
      if (c == quote) break;
      if (c != '\\') {
        value += c;
        ++i;
        continue;
      }
      if (i + 1 >= src_.size()) error(pos, "unclosed string literal");
      const char e = src_[i + 1];
      i += 2;
      switch (e) {
        case 'n': value += '\n'; break;
        case 't': value += '\t'; break;
        case 'r': value += '\r'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case 'v': value += '\v'; break;
        case 'a': value += '\a'; break;
        case '0': value += '\0'; break;
        case '\\': value += '\\'; break;
        case '\'': value += '\''; break;
        case '"': value += '"'; break;
        case '\n': break;
        case 'x': hex(2); break;
        case 'u': hex(4); break;
        case 'U': hex(8); break;
        default: value += '\\'; value += e;  // Python keeps unknown escapes as written
      }
    }
    emit(TokenType::STRING, value, pos);
    return i + 1;
  }

  int line_of(size_t pos) const {
    return static_cast<int>(std::upper_bound(line_starts_.begin(), line_starts_.end(), pos) - line_starts_.begin());
  }
  int column_of(size_t pos) const { return static_cast<int>(pos - line_starts_[line_of(pos) - 1]) + 1; }

  void emit(TokenType type, std::string text, size_t pos) {
    if (type == TokenType::TEXT && text.empty()) return;
    out_.push_back({type, std::move(text), line_of(pos), column_of(pos)});
  }

  [[noreturn]] void error(size_t pos, const std::string& what) const {
    throw TemplateError(line_of(pos), column_of(pos), what);
  }

  std::string src_;
  std::vector<size_t> line_starts_;
  std::vector<Token> out_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

}  // namespace swapmoe::jinja
