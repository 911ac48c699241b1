// The parsed form of a template: statements (text, output, if, for, set, macro...) holding
// expressions. One node type each, with the fields every kind needs; `kind` says which apply.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_value.h"

namespace swapmoe::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    LITERAL,    // value
    NAME,       // name
    LIST,       // args
    TUPLE,      // args
    DICT,       // args: key, value, key, value...
    ATTRIBUTE,  // args[0].name
    ITEM,       // args[0][args[1]]
    SLICE,      // args[0][args[1]:args[2]:args[3]], absent parts null
    CALL,       // args[0](args[1:], keywords)
    FILTER,     // args[0] | name(args[1:], keywords)
    TEST,       // args[0] is [not] name(args[1:]); negated
    UNARY,      // op args[0]: "not", "-", "+"
    BINARY,     // args[0] op args[1]
    CONDITION,  // args[1] if args[0] else args[2] (args[2] may be null)
  };
  Kind kind;
  int line = 0, column = 0;
  int depth = 1;     // nodes on the longest path down from here (the parser caps it)
  std::string name;  // NAME, ATTRIBUTE, FILTER, TEST; the operator for UNARY and BINARY
  Value value;       // LITERAL
  bool negated = false;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> keywords;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // null: required
};

struct Stmt {
  enum class Kind {
    TEXT,       // text
    OUTPUT,     // {{ expr }}
    IF,         // conditions[i] -> bodies[i]; else_body
    FOR,        // for targets in expr [if filter]: bodies[0]; else_body
    SET,        // set targets (or target_object.attribute) = expr
    SET_BLOCK,  // set targets[0] %}bodies[0]{% endset
    MACRO,      // macro name(params): bodies[0]
    BREAK,
    CONTINUE,
  };
  Kind kind;
  int line = 0, column = 0;
  std::string text;  // TEXT; MACRO: the name
  ExprPtr expr;      // OUTPUT, FOR (the iterable), SET (the value)
  ExprPtr filter;    // FOR ... if filter
  std::vector<std::string> targets;
  std::string attribute;  // SET ns.attribute: targets[0] is the namespace
  std::vector<ExprPtr> conditions;
  std::vector<Body> bodies;
  Body else_body;
  std::vector<MacroParam> params;
};

}  // namespace swapmoe::jinja
