#include "shrink/pass/pipeline.h"

#include "shrink/core/error.h"

#include <cctype>

namespace shrink {

namespace {

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

bool is_bare_char(char c) {
  if (std::isspace(static_cast<unsigned char>(c))) return false;
  switch (c) {
  case ',':
  case '{':
  case '}':
  case '[':
  case ']':
  case '(':
  case ')':
  case '=':
  case '"':
    return false;
  default:
    return true;
  }
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

bool is_bare_word(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_bare_char(c)) return false;
  return true;
}

/// A recursive-descent parser over the pipeline text that tracks line and column.
class Parser {
public:
  Parser(const std::string& text, const std::string& source) : text_(text), source_(source) {}

  std::vector<PassSpec> parse_all() {
    std::vector<PassSpec> specs = parse_list();
    skip_space();
    if (!at_end()) {
      if (peek() == ')') fail("unbalanced ')': no fixpoint( is open here");
      fail(std::string("expected ',' or the end of the pipeline, found '") + peek() + "'");
    }
    return specs;
  }

private:
  std::vector<PassSpec> parse_list() {
    std::vector<PassSpec> specs;
    skip_space();
    if (at_end() || peek() == ')') return specs;
    for (;;) {
      specs.push_back(parse_item());
      skip_space();
      if (at_end() || peek() != ',') break;
      advance();
      skip_space();
      if (at_end() || peek() == ')' || peek() == ',') fail("expected a pass name after ','");
    }
    return specs;
  }

  PassSpec parse_item() {
    skip_space();
    PassSpec spec;
    spec.line = line_;
    spec.column = column_;
    if (at_end() || !is_name_char(peek())) {
      if (at_end()) fail("expected a pass name, found the end of the text");
      fail(std::string("expected a pass name, found '") + peek() + "'");
    }
    spec.name = parse_name();
    skip_space();
    if (!at_end() && peek() == '{') spec.options = parse_options(spec.name);
    skip_space();
    if (!at_end() && peek() == '(') {
      if (spec.name != kFixpointPass)
        fail("only 'fixpoint' takes a list of passes in parentheses, not '" + spec.name + "'");
      int open_line = line_, open_column = column_;
      advance();
      spec.children = parse_list();
      skip_space();
      if (at_end()) throw ParseError(source_, open_line, open_column, "'(' is never closed");
      if (peek() != ')') fail(std::string("expected ',' or ')', found '") + peek() + "'");
      advance();
      if (spec.children.empty())
        throw ParseError(source_, open_line, open_column, "fixpoint() needs at least one pass");
    } else if (spec.name == kFixpointPass) {
      fail("fixpoint needs a list of passes: fixpoint(pass,pass,...)");
    }
    return spec;
  }

  Options parse_options(const std::string& pass) {
    advance(); // '{'
    Options options;
    skip_space();
    if (!at_end() && peek() == '}') {
      advance();
      return options;
    }
    for (;;) {
      skip_space();
      if (at_end()) fail("unterminated option list of '" + pass + "': expected '}'");
      if (!is_name_char(peek()))
        fail(std::string("expected an option name, found '") + peek() + "'");
      int key_line = line_, key_column = column_;
      std::string key = parse_name();
      skip_space();
      if (at_end() || peek() != '=')
        fail("expected '=' after option '" + key + "'" +
             (at_end() ? std::string() : std::string(", found '") + peek() + "'"));
      advance();
      skip_space();
      std::string value = parse_value(key);
      if (options.count(key))
        throw ParseError(source_, key_line, key_column,
                         "option '" + key + "' of '" + pass + "' is given twice");
      options[key] = value;
      skip_space();
      if (at_end()) fail("unterminated option list of '" + pass + "': expected '}'");
      if (peek() == '}') {
        advance();
        return options;
      }
      if (peek() != ',') fail(std::string("expected ',' or '}', found '") + peek() + "'");
      advance();
    }
  }

  std::string parse_value(const std::string& key) {
    if (at_end()) fail("expected a value for option '" + key + "'");
    char c = peek();
    if (c == '"') return parse_quoted();
    if (c == '[') return parse_list_value(key);
    if (!is_bare_char(c)) fail("expected a value for option '" + key + "', found '" + c + "'");
    return parse_bare();
  }

  std::string parse_list_value(const std::string& key) {
    advance(); // '['
    std::vector<std::string> items;
    skip_space();
    if (!at_end() && peek() == ']') {
      advance();
      return "[]";
    }
    for (;;) {
      skip_space();
      if (at_end()) fail("unterminated list in option '" + key + "': expected ']'");
      char c = peek();
      if (c == '"')
        items.push_back(parse_quoted());
      else if (is_bare_char(c))
        items.push_back(parse_bare());
      else
        fail(std::string("expected a list element, found '") + c + "'");
      skip_space();
      if (at_end()) fail("unterminated list in option '" + key + "': expected ']'");
      if (peek() == ']') {
        advance();
        break;
      }
      if (peek() != ',') fail(std::string("expected ',' or ']', found '") + peek() + "'");
      advance();
    }
    std::string out = "[";
    for (size_t i = 0; i < items.size(); ++i)
      out += (i ? "," : "") + (is_bare_word(items[i]) ? items[i] : quote(items[i]));
    return out + "]";
  }

  std::string parse_quoted() {
    int open_line = line_, open_column = column_;
    advance(); // '"'
    std::string out;
    while (!at_end() && peek() != '"') {
      if (peek() == '\\') {
        advance();
        if (at_end()) break;
      }
      out += peek();
      advance();
    }
    if (at_end()) throw ParseError(source_, open_line, open_column, "unterminated string");
    advance();
    return out;
  }

  std::string parse_bare() {
    std::string out;
    while (!at_end() && is_bare_char(peek())) {
      out += peek();
      advance();
    }
    return out;
  }

  std::string parse_name() {
    std::string out;
    while (!at_end() && is_name_char(peek())) {
      out += peek();
      advance();
    }
    return out;
  }

  void skip_space() {
    while (!at_end() && std::isspace(static_cast<unsigned char>(peek())))
      advance();
  }
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }
  void advance() {
    if (text_[pos_] == '\n') {
      ++line_;
      column_ = 1;
    } else {
      ++column_;
    }
    ++pos_;
  }
  [[noreturn]] void fail(const std::string& message) const {
    throw ParseError(source_, line_, column_, message);
  }

  const std::string& text_;
  const std::string& source_;
  size_t pos_ = 0;
  int line_ = 1;
  int column_ = 1;
};

void print_specs(const std::vector<PassSpec>& specs, std::string& out) {
  for (size_t i = 0; i < specs.size(); ++i) {
    const PassSpec& s = specs[i];
    if (i) out += ',';
    out += s.name;
    if (!s.options.empty()) {
      out += '{';
      bool first = true;
      for (const auto& [key, value] : s.options) {
        if (!first) out += ',';
        first = false;
        out += key + "=" + quote_option_value(value);
      }
      out += '}';
    }
    if (!s.children.empty()) {
      out += '(';
      print_specs(s.children, out);
      out += ')';
    }
  }
}

} // namespace

PassSpec PassSpec::of(std::string name, Options options) {
  PassSpec s;
  s.name = std::move(name);
  s.options = std::move(options);
  return s;
}

PassSpec PassSpec::fixpoint(std::vector<PassSpec> children, Options options) {
  PassSpec s;
  s.name = kFixpointPass;
  s.options = std::move(options);
  s.children = std::move(children);
  return s;
}

bool PassSpec::operator==(const PassSpec& other) const {
  return name == other.name && options == other.options && children == other.children;
}

std::vector<PassSpec> parse_pipeline(const std::string& text, const std::string& source) {
  return Parser(text, source).parse_all();
}

std::string print_pipeline(const std::vector<PassSpec>& specs) {
  std::string out;
  print_specs(specs, out);
  return out;
}

std::string quote_option_value(const std::string& value) {
  if (is_bare_word(value)) return value;
  // A list keeps its bracketed form when it reads back as the same list text.
  if (value.size() >= 2 && value.front() == '[' && value.back() == ']') {
    try {
      std::vector<PassSpec> probe = parse_pipeline("p{v=" + value + "}");
      if (probe.size() == 1 && probe[0].options.at("v") == value) return value;
    } catch (const ParseError&) {
    }
  }
  return quote(value);
}

std::vector<std::string> split_option_list(const std::string& value) {
  std::string text = value;
  size_t b = text.find_first_not_of(" \t\n\r");
  size_t e = text.find_last_not_of(" \t\n\r");
  text = b == std::string::npos ? std::string() : text.substr(b, e - b + 1);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
    text = text.substr(1, text.size() - 2);
  std::vector<std::string> items;
  std::string cur;
  bool have = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '"') {
      size_t j = i + 1;
      for (; j < text.size() && text[j] != '"'; ++j) {
        if (text[j] == '\\' && j + 1 < text.size()) ++j;
        cur += text[j];
      }
      if (j >= text.size()) throw Error("unterminated string in list '" + value + "'");
      i = j;
      have = true;
    } else if (c == ',' || std::isspace(static_cast<unsigned char>(c))) {
      if (have) items.push_back(cur);
      cur.clear();
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (have) items.push_back(cur);
  return items;
}

} // namespace shrink
