#include "shrink/core/error.h"
#include "shrink/ir/graph.h"
#include "shrink/ir/op_table.h"
#include "shrink/ir/text.h"
#include "text_syntax.h"

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <new>
#include <optional>
#include <set>
#include <sstream>

namespace shrink {

namespace {

enum class Tok { End, ValueName, AtName, Ident, Int, Float, Hex, String, Punct };

struct Token {
  Tok kind = Tok::End;
  std::string text;     // Decoded: names without sigil or quotes, strings unescaped.
  std::string spelling; // As written, for messages.
  int line = 1;
  int column = 1;
};

class Lexer {
public:
  Lexer(const std::string& text, const std::string& source) : text_(text), source_(source) {}

  std::vector<Token> run() {
    std::vector<Token> out;
    for (;;) {
      skip_space_and_comments();
      Token t;
      t.line = line_;
      t.column = column_;
      size_t start = pos_;
      if (pos_ >= text_.size()) {
        t.kind = Tok::End;
        out.push_back(t);
        return out;
      }
      char c = text_[pos_];
      if (c == '%' || c == '@') {
        t.kind = c == '%' ? Tok::ValueName : Tok::AtName;
        advance();
        if (peek() == '"') {
          t.text = read_string(t);
        } else {
          size_t name_start = pos_;
          while (pos_ < text_.size() && text_syntax::is_name_char(text_[pos_]))
            advance();
          // A trailing ':' separates `%x: f32`; it is never part of a bare name.
          while (pos_ > name_start && text_[pos_ - 1] == ':') {
            --pos_;
            --column_;
          }
          t.text = text_.substr(name_start, pos_ - name_start);
          if (t.text.empty())
            fail(t, std::string("expected a name after '") + c + "'" +
                        " (quote names with other characters: " + c + "\"my name\")");
        }
      } else if (c == '"') {
        t.kind = Tok::String;
        t.text = read_string(t);
      } else if (is_alpha(c)) {
        t.kind = Tok::Ident;
        while (pos_ < text_.size() && (is_alpha(text_[pos_]) || is_digit(text_[pos_])))
          advance();
        t.text = text_.substr(start, pos_ - start);
      } else if (is_digit(c) || ((c == '-' || c == '+' || c == '.') && starts_number(pos_ + 1))) {
        read_number(t);
      } else if (std::strchr("(){}[],=:<>?", c) != nullptr) {
        t.kind = Tok::Punct;
        t.text = std::string(1, c);
        advance();
      } else {
        std::string shown = (c >= 0x20 && c < 0x7f) ? std::string(1, c) : "\\x" + hex_byte(c);
        fail(t, "unexpected character '" + shown + "'");
      }
      if (t.spelling.empty()) t.spelling = text_.substr(start, pos_ - start);
      out.push_back(std::move(t));
    }
  }

private:
  static bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  }
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }
  static std::string hex_byte(char c) {
    static const char* digits = "0123456789abcdef";
    auto u = static_cast<unsigned char>(c);
    return std::string{digits[u >> 4], digits[u & 15]};
  }

  [[noreturn]] void fail(const Token& at, const std::string& message) const {
    throw ParseError(source_, at.line, at.column, message);
  }

  char peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }

  void advance() {
    if (text_[pos_] == '\n') {
      ++line_;
      column_ = 1;
    } else {
      ++column_;
    }
    ++pos_;
  }

  bool starts_number(size_t p) const {
    if (p >= text_.size()) return false;
    if (is_digit(text_[p])) return true;
    if (text_[p] == '.' && p + 1 < text_.size() && is_digit(text_[p + 1])) return true;
    return text_.compare(p, 3, "inf") == 0 || text_.compare(p, 3, "nan") == 0;
  }

  void skip_space_and_comments() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        advance();
      } else if (c == '/' && peek(1) == '/') {
        while (pos_ < text_.size() && text_[pos_] != '\n')
          advance();
      } else {
        return;
      }
    }
  }

  std::string read_string(const Token& at) {
    advance(); // the opening quote
    std::string out;
    for (;;) {
      if (pos_ >= text_.size() || text_[pos_] == '\n') fail(at, "unterminated string");
      char c = text_[pos_];
      if (c == '"') {
        advance();
        return out;
      }
      if (c != '\\') {
        out += c;
        advance();
        continue;
      }
      Token esc;
      esc.line = line_;
      esc.column = column_;
      advance();
      char e = peek();
      switch (e) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'x': {
        int value = 0;
        for (int k = 1; k <= 2; ++k) {
          char h = peek(k);
          int d = is_digit(h)              ? h - '0'
                  : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                  : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                           : -1;
          if (d < 0) fail(esc, "expected two hex digits after '\\x'");
          value = value * 16 + d;
        }
        advance();
        advance();
        out += static_cast<char>(value);
        break;
      }
      default:
        fail(esc, std::string("unknown escape '\\") + (e ? std::string(1, e) : "") +
                      "' (known: \\\" \\\\ \\n \\t \\r \\xHH)");
      }
      advance();
    }
  }

  void read_number(Token& t) {
    size_t start = pos_;
    if (peek() == '-' || peek() == '+') advance();
    if (text_.compare(pos_, 3, "inf") == 0 || text_.compare(pos_, 3, "nan") == 0) {
      for (int k = 0; k < 3; ++k)
        advance();
      t.kind = Tok::Float;
    } else if (peek() == '0' && (peek(1) == 'x' || peek(1) == 'X') && pos_ == start) {
      advance();
      advance();
      while (std::isxdigit(static_cast<unsigned char>(peek())))
        advance();
      t.kind = Tok::Hex;
    } else {
      t.kind = Tok::Int;
      while (is_digit(peek()))
        advance();
      if (peek() == '.') {
        t.kind = Tok::Float;
        advance();
        while (is_digit(peek()))
          advance();
      }
      if ((peek() == 'e' || peek() == 'E') &&
          (is_digit(peek(1)) || ((peek(1) == '-' || peek(1) == '+') && is_digit(peek(2))))) {
        t.kind = Tok::Float;
        advance();
        if (peek() == '-' || peek() == '+') advance();
        while (is_digit(peek()))
          advance();
      }
    }
    t.text = text_.substr(start, pos_ - start);
    // "12ab" is one bad token, not a number followed by a name.
    if (is_alpha(peek())) {
      while (is_alpha(peek()) || is_digit(peek()))
        advance();
      fail(t, "malformed number '" + text_.substr(start, pos_ - start) + "'");
    }
  }

  const std::string& text_;
  const std::string& source_;
  size_t pos_ = 0;
  int line_ = 1;
  int column_ = 1;
};

std::string describe(const Token& t) {
  if (t.kind == Tok::End) return "end of input";
  return "'" + t.spelling + "'";
}

bool dtype_is_float(DType d) {
  return d == DType::f32 || d == DType::f16 || d == DType::bf16;
}

class Parser {
public:
  Parser(std::vector<Token> tokens, const std::string& source)
      : tokens_(std::move(tokens)), source_(source) {}

  Graph parse_graph() {
    expect_keyword("graph", "at the start of the text");
    const Token& name = expect(Tok::AtName, "a graph name such as '@main' after 'graph'");
    Graph graph(name.text);
    graph_ = &graph;
    expect_punct("(", "after the graph name");
    if (!accept_punct(")")) {
      for (;;) {
        const Token& v = expect(Tok::ValueName, "a graph input such as '%x: f32[N,3]'");
        check_new_value(v);
        expect_punct(":", "after graph input %" + v.text);
        TensorType type = parse_type();
        define(v, graph.add_input(v.text, type));
        if (accept_punct(")")) break;
        expect_punct(",", "or ')' after graph input %" + v.text);
      }
    }
    expect_punct("{", "to open the graph body");
    for (;;) {
      const Token& t = cur();
      if (t.kind == Tok::Ident && t.text == "return") {
        parse_return();
        break;
      }
      if (t.kind == Tok::ValueName) {
        parse_definition();
      } else if (t.kind == Tok::Ident) {
        parse_node({}); // a node without outputs
      } else {
        fail(t, "expected a node, a constant or 'return', got " + describe(t));
      }
    }
    expect_punct("}", "after 'return'");
    if (cur().kind != Tok::End)
      fail(cur(), "expected end of input after the graph's '}', got " + describe(cur()));
    return graph;
  }

private:
  // ---- token helpers -------------------------------------------------------------------------

  const Token& cur() const { return tokens_[pos_]; }
  const Token& next() {
    const Token& t = tokens_[pos_];
    if (t.kind != Tok::End) ++pos_;
    return t;
  }
  [[noreturn]] void fail(const Token& at, const std::string& message) const {
    throw ParseError(source_, at.line, at.column, message);
  }
  bool is_punct(const char* p) const { return cur().kind == Tok::Punct && cur().text == p; }
  bool is_keyword(const char* k) const { return cur().kind == Tok::Ident && cur().text == k; }
  bool accept_punct(const char* p) {
    if (!is_punct(p)) return false;
    next();
    return true;
  }
  void expect_punct(const char* p, const std::string& context) {
    if (!accept_punct(p))
      fail(cur(), std::string("expected '") + p + "' " + context + ", got " + describe(cur()));
  }
  void expect_keyword(const char* k, const std::string& context) {
    if (!is_keyword(k))
      fail(cur(), std::string("expected '") + k + "' " + context + ", got " + describe(cur()));
    next();
  }
  const Token& expect(Tok kind, const std::string& what) {
    if (cur().kind != kind) fail(cur(), "expected " + what + ", got " + describe(cur()));
    return next();
  }

  // ---- values --------------------------------------------------------------------------------

  void check_new_value(const Token& name) {
    auto it = defined_at_.find(name.text);
    if (it != defined_at_.end())
      fail(name, "duplicate value %" + name.text + " (first defined at line " +
                     std::to_string(it->second) + ")");
  }

  void define(const Token& name, Value* v) {
    defined_at_[name.text] = name.line;
    values_[name.text] = v;
  }

  Value* use(const Token& name) {
    auto it = values_.find(name.text);
    if (it == values_.end()) fail(name, "use of undefined value %" + name.text);
    return it->second;
  }

  // ---- types ---------------------------------------------------------------------------------

  DType parse_dtype_token() {
    const Token& t = cur();
    if (t.kind != Tok::Ident) fail(t, "expected a type such as 'f32[N,3]', got " + describe(t));
    try {
      DType d = shrink::parse_dtype(t.text);
      next();
      return d;
    } catch (const Error& e) {
      fail(t, e.what());
    }
  }

  TensorType parse_type() {
    TensorType type;
    type.dtype = parse_dtype_token();
    if (!accept_punct("[")) return type;
    type.dims.emplace();
    if (accept_punct("]")) return type;
    for (;;) {
      const Token& t = cur();
      if (t.kind == Tok::Int) {
        type.dims->push_back(Dim::known(parse_int(t)));
      } else if (t.kind == Tok::Ident) {
        type.dims->push_back(Dim::sym(t.text));
      } else if (t.kind == Tok::String) {
        if (t.text.empty()) fail(t, "a dimension symbol cannot be empty; use '?'");
        type.dims->push_back(Dim::sym(t.text));
      } else if (t.kind == Tok::Punct && t.text == "?") {
        type.dims->push_back(Dim::unknown());
      } else {
        fail(t, "expected a dimension (a size, a symbol such as 'N', or '?'), got " + describe(t));
      }
      if (t.kind == Tok::Int && type.dims->back().value < 0)
        fail(t, "a dimension cannot be negative; use '?' for an unknown one");
      next();
      if (accept_punct("]")) return type;
      expect_punct(",", "or ']' between dimensions");
    }
  }

  Shape parse_concrete_shape(const std::string& what, DType& dtype) {
    const Token& at = cur();
    TensorType type = parse_type();
    dtype = type.dtype;
    if (!type.fully_known())
      fail(at, what + " needs a concrete shape such as " + dtype_name(type.dtype) +
                   "[2,3] (a scalar is " + dtype_name(type.dtype) + "[]), got " + print_type(type));
    int64_t numel = 1;
    for (const Dim& d : *type.dims) {
      if (d.value != 0 && numel > std::numeric_limits<int64_t>::max() / 16 / d.value)
        fail(at, what + " of type " + print_type(type) + " is too large to build");
      numel *= d.value;
    }
    return type.concrete();
  }

  // ---- numbers -------------------------------------------------------------------------------

  int64_t parse_int(const Token& t) {
    int64_t v = 0;
    const char* b = t.text.data();
    const char* e = b + t.text.size();
    if (*b == '+') ++b;
    auto res = std::from_chars(b, e, v);
    if (res.ec != std::errc() || res.ptr != e) fail(t, "integer " + t.text + " is out of range");
    return v;
  }

  float parse_float(const Token& t) {
    std::string s = t.text;
    if (!s.empty() && s[0] == '+') s.erase(0, 1);
    bool neg = !s.empty() && s[0] == '-';
    std::string body = neg ? s.substr(1) : s;
    if (body == "inf")
      return neg ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
    if (body == "nan") return std::numeric_limits<float>::quiet_NaN();
    float v = 0;
    auto res = std::from_chars(s.data(), s.data() + s.size(), v);
    if (res.ec != std::errc() || res.ptr != s.data() + s.size())
      fail(t, "number " + t.text + " is out of range for f32");
    return v;
  }

  bool is_float_token(const Token& t) const {
    return t.kind == Tok::Float || t.kind == Tok::Int ||
           (t.kind == Tok::Ident && (t.text == "inf" || t.text == "nan"));
  }

  float expect_float(const std::string& what) {
    const Token& t = cur();
    if (!is_float_token(t)) fail(t, "expected " + what + ", got " + describe(t));
    next();
    return parse_float(t);
  }

  int64_t expect_int(const std::string& what) {
    const Token& t = cur();
    if (t.kind != Tok::Int) fail(t, "expected " + what + ", got " + describe(t));
    next();
    return parse_int(t);
  }

  // ---- constants -----------------------------------------------------------------------------

  void set_element(Tensor& t, int64_t i, const Token& tok) {
    DType d = t.dtype();
    if (dtype_is_float(d)) {
      if (!is_float_token(tok))
        fail(tok, std::string("expected a number for a ") + dtype_name(d) + " element, got " +
                      describe(tok));
      float f = parse_float(tok);
      if (d == DType::f32)
        t.data_mutable<float>()[i] = f;
      else
        static_cast<uint16_t*>(t.raw_mutable())[i] =
            d == DType::f16 ? float_to_half(f) : float_to_bf16(f);
      return;
    }
    if (d == DType::boolean) {
      bool value;
      if (tok.kind == Tok::Ident && (tok.text == "true" || tok.text == "false"))
        value = tok.text == "true";
      else if (tok.kind == Tok::Int && (tok.text == "0" || tok.text == "1"))
        value = tok.text == "1";
      else
        fail(tok, "expected 'true' or 'false' for a bool element, got " + describe(tok));
      t.data_mutable<bool>()[i] = value;
      return;
    }
    if (tok.kind != Tok::Int)
      fail(tok, std::string("expected an integer for a ") + dtype_name(d) + " element, got " +
                    describe(tok));
    int64_t v = parse_int(tok);
    auto fits = [&](int64_t lo, int64_t hi) {
      if (v < lo || v > hi)
        fail(tok, "value " + tok.text + " does not fit " + dtype_name(d) + " (range " +
                      std::to_string(lo) + ".." + std::to_string(hi) + ")");
    };
    switch (d) {
    case DType::i8:
      fits(-128, 127);
      t.data_mutable<int8_t>()[i] = static_cast<int8_t>(v);
      break;
    case DType::u8:
      fits(0, 255);
      t.data_mutable<uint8_t>()[i] = static_cast<uint8_t>(v);
      break;
    case DType::i32:
      fits(std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max());
      t.data_mutable<int32_t>()[i] = static_cast<int32_t>(v);
      break;
    default:
      t.data_mutable<int64_t>()[i] = v;
      break;
    }
  }

  // Reads what follows a constant's type: `[values]`, `hash(0x...)`, `random(seed=K)`, `zeros`
  // or `ones`, then optional `quant(...)`.
  Tensor parse_payload(DType dtype, const Shape& shape, const std::string& what) {
    const Token& at = cur();
    try {
      return parse_payload_unguarded(dtype, shape, what);
    } catch (const std::bad_alloc&) {
      fail(at, "out of memory while building " + what + " of shape " + shape_str(shape));
    }
  }

  Tensor parse_payload_unguarded(DType dtype, const Shape& shape, const std::string& what) {
    Tensor t;
    const Token& at = cur();
    if (accept_punct("[")) {
      t = Tensor(dtype, shape);
      int64_t n = 0;
      if (!accept_punct("]")) {
        for (;;) {
          const Token& e = cur();
          if (n >= t.numel())
            fail(e, what + " has more values than its shape " + shape_str(shape) + " holds (" +
                        std::to_string(t.numel()) + ")");
          set_element(t, n++, e);
          next();
          if (accept_punct("]")) break;
          expect_punct(",", "or ']' between the values of " + what);
        }
      }
      if (n != t.numel())
        fail(at, what + " has " + std::to_string(n) + " values but its shape " + shape_str(shape) +
                     " holds " + std::to_string(t.numel()));
    } else if (is_keyword("hash")) {
      next();
      expect_punct("(", "after 'hash'");
      const Token& h = expect(Tok::Hex, "a hexadecimal content hash such as 0x1f2e3d4c5b6a7980");
      uint64_t seed = 0;
      auto res = std::from_chars(h.text.data() + 2, h.text.data() + h.text.size(), seed, 16);
      if (res.ec != std::errc() || res.ptr != h.text.data() + h.text.size())
        fail(h, "malformed hash " + h.text);
      expect_punct(")", "after the hash");
      // The values are gone; a placeholder seeded by the hash keeps tests deterministic.
      t = Tensor::random(shape, seed, dtype);
    } else if (is_keyword("random")) {
      next();
      expect_punct("(", "after 'random'");
      expect_keyword("seed", "in random(seed=K)");
      expect_punct("=", "after 'seed'");
      int64_t seed = expect_int("an integer seed");
      expect_punct(")", "after the seed");
      t = Tensor::random(shape, static_cast<uint64_t>(seed), dtype);
    } else if (is_keyword("zeros")) {
      next();
      t = Tensor(dtype, shape);
    } else if (is_keyword("ones")) {
      next();
      std::vector<float> ones(static_cast<size_t>(shape_numel(shape)), 1.0f);
      t = Tensor::from_vector(shape, ones).cast(dtype);
    } else {
      fail(at, "expected the values of " + what +
                   ": '[...]', 'hash(0x...)', 'random(seed=K)', 'zeros' or 'ones', got " +
                   describe(at));
    }
    if (is_keyword("quant")) t.set_quant(parse_quant());
    return t;
  }

  QuantParams parse_quant() {
    next();
    expect_punct("(", "after 'quant'");
    QuantParams q;
    bool have_scales = false, have_zps = false;
    std::set<std::string> seen;
    const Token& open = cur();
    if (!is_punct(")")) {
      for (;;) {
        const Token& key = expect(Tok::Ident, "'axis', 'scales' or 'zero_points' in quant(...)");
        if (!seen.insert(key.text).second) fail(key, "duplicate '" + key.text + "' in quant(...)");
        expect_punct("=", "after '" + key.text + "'");
        if (key.text == "axis") {
          q.axis = static_cast<int>(expect_int("an integer axis"));
        } else if (key.text == "scales") {
          have_scales = true;
          expect_punct("[", "to start the scales");
          while (!accept_punct("]")) {
            if (!q.scales.empty()) expect_punct(",", "or ']' between scales");
            q.scales.push_back(expect_float("a scale"));
          }
        } else if (key.text == "zero_points") {
          have_zps = true;
          expect_punct("[", "to start the zero points");
          while (!accept_punct("]")) {
            if (!q.zero_points.empty()) expect_punct(",", "or ']' between zero points");
            const Token& z = cur();
            int64_t v = expect_int("an integer zero point");
            if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
              fail(z, "zero point " + z.text + " does not fit i32");
            q.zero_points.push_back(static_cast<int32_t>(v));
          }
        } else {
          fail(key,
               "unknown key '" + key.text + "' in quant(...); known: axis, scales, zero_points");
        }
        if (is_punct(")")) break;
        expect_punct(",", "or ')' in quant(...)");
      }
    }
    if (!have_scales || !have_zps) fail(open, "quant(...) needs both 'scales' and 'zero_points'");
    if (q.scales.size() != q.zero_points.size())
      fail(open, "quant(...) has " + std::to_string(q.scales.size()) + " scales but " +
                     std::to_string(q.zero_points.size()) + " zero points");
    expect_punct(")", "to close quant(...)");
    return q;
  }

  // ---- attributes ----------------------------------------------------------------------------

  // `declared` is the kind the op table gives the attribute; it only settles what `[]` means.
  Attribute parse_attr_value(const std::optional<AttrKind>& declared, const std::string& where) {
    const Token& t = cur();
    switch (t.kind) {
    case Tok::Int:
      next();
      return parse_int(t);
    case Tok::Float:
      next();
      return parse_float(t);
    case Tok::String:
      next();
      return t.text;
    default:
      break;
    }
    if (t.kind == Tok::Ident) {
      if (t.text == "inf" || t.text == "nan") {
        next();
        return parse_float(t);
      }
      if (t.text == "ints" || t.text == "floats" || t.text == "strings") {
        next();
        AttrKind kind = t.text == "ints"     ? AttrKind::Ints
                        : t.text == "floats" ? AttrKind::Floats
                                             : AttrKind::Strings;
        if (!is_punct("["))
          fail(cur(), "expected '[' after '" + t.text + "', got " + describe(cur()));
        return parse_list(kind, where);
      }
      if (t.text == "tensor") {
        next();
        expect_punct("<", "after 'tensor'");
        DType dtype;
        Shape shape = parse_concrete_shape("a tensor attribute", dtype);
        expect_punct(">", "after the tensor attribute's type");
        return parse_payload(dtype, shape, "the tensor attribute of " + where);
      }
    }
    if (is_punct("[")) {
      std::optional<AttrKind> kind;
      // Look ahead at the first element to tell ints, floats and strings apart.
      const Token& first = tokens_[pos_ + 1];
      if (first.kind == Tok::Punct && first.text == "]") {
        kind = declared && (*declared == AttrKind::Ints || *declared == AttrKind::Floats ||
                            *declared == AttrKind::Strings)
                   ? *declared
                   : AttrKind::Ints;
      } else if (first.kind == Tok::String) {
        kind = AttrKind::Strings;
      } else {
        kind = AttrKind::Ints;
        for (size_t k = pos_ + 1; k < tokens_.size(); ++k) {
          const Token& e = tokens_[k];
          if (e.kind == Tok::Punct && e.text == "]") break;
          if (e.kind == Tok::Float ||
              (e.kind == Tok::Ident && (e.text == "inf" || e.text == "nan")))
            kind = AttrKind::Floats;
        }
      }
      return parse_list(*kind, where);
    }
    fail(t, "expected an attribute value (a number, a \"string\", a [list] or tensor<...>) in " +
                where + ", got " + describe(t));
  }

  Attribute parse_list(AttrKind kind, const std::string& where) {
    expect_punct("[", "to start a list");
    std::vector<int64_t> ints;
    std::vector<float> floats;
    std::vector<std::string> strings;
    size_t n = 0;
    while (!accept_punct("]")) {
      if (n > 0) expect_punct(",", "or ']' between list elements in " + where);
      const Token& e = cur();
      if (kind == AttrKind::Ints) {
        ints.push_back(expect_int("an integer in the int list of " + where));
      } else if (kind == AttrKind::Floats) {
        floats.push_back(expect_float("a number in the float list of " + where));
      } else {
        if (e.kind != Tok::String)
          fail(e, "expected a \"string\" in the string list of " + where + ", got " + describe(e));
        strings.push_back(next().text);
      }
      ++n;
    }
    if (kind == AttrKind::Ints) return ints;
    if (kind == AttrKind::Floats) return floats;
    return strings;
  }

  Attributes parse_attrs(const OpSchema* schema, const std::string& where) {
    Attributes attrs;
    if (!accept_punct("{")) return attrs;
    if (accept_punct("}")) return attrs;
    for (;;) {
      const Token& key = cur();
      if (key.kind != Tok::Ident && key.kind != Tok::String)
        fail(key, "expected an attribute name in " + where + ", got " + describe(key));
      next();
      if (attrs.count(key.text)) fail(key, "duplicate attribute '" + key.text + "' in " + where);
      expect_punct("=", "after attribute '" + key.text + "'");
      std::optional<AttrKind> declared;
      if (schema)
        for (const auto& [name, kind] : schema->attrs)
          if (name == key.text) declared = kind;
      attrs[key.text] = parse_attr_value(declared, "attribute '" + key.text + "' of " + where);
      if (accept_punct("}")) return attrs;
      expect_punct(",", "or '}' after attribute '" + key.text + "' of " + where);
    }
  }

  // ---- lines ---------------------------------------------------------------------------------

  void parse_definition() {
    std::vector<const Token*> outs;
    for (;;) {
      const Token& v = expect(Tok::ValueName, "a value name such as '%y'");
      check_new_value(v);
      for (const Token* o : outs)
        if (o->text == v.text) fail(v, "duplicate value %" + v.text);
      outs.push_back(&v);
      if (accept_punct("=")) break;
      expect_punct(",", "or '=' after %" + v.text);
    }
    if (is_keyword("const")) {
      const Token& kw = next();
      if (outs.size() != 1) fail(kw, "a constant defines exactly one value");
      const Token& name = *outs[0];
      std::string what = "constant %" + name.text;
      DType dtype;
      Shape shape = parse_concrete_shape(what, dtype);
      Tensor t = parse_payload(dtype, shape, what);
      define(name, guarded(name, [&] { return graph_->add_initializer(name.text, t); }));
      return;
    }
    parse_node(outs);
  }

  void parse_node(const std::vector<const Token*>& outs) {
    const Token& op = expect(Tok::Ident, "an op name such as 'Conv' or 'const'");
    const OpSchema* schema = find_op(op.text);
    if (!schema) {
      std::vector<std::string> known;
      for (const OpSchema* s : all_ops())
        known.push_back(s->name);
      std::string suggestion = closest_name(op.text, known);
      fail(op, "unknown op '" + op.text + "'" +
                   (suggestion.empty() ? std::string(" (see ops.def for the known ops)")
                                       : " \xe2\x80\x94 did you mean '" + suggestion + "'?"));
    }
    std::string where =
        outs.empty() ? "node '" + op.text + "'" : "node '" + outs[0]->text + "' (" + op.text + ")";
    expect_punct("(", "after op '" + op.text + "'");
    std::vector<Value*> inputs;
    if (!accept_punct(")")) {
      for (;;) {
        const Token& in = cur();
        if (in.kind == Tok::ValueName) {
          inputs.push_back(use(in));
        } else if (in.kind == Tok::Ident && in.text == "_") {
          inputs.push_back(nullptr);
        } else {
          fail(in, "expected an input value or '_' in the inputs of " + where + ", got " +
                       describe(in));
        }
        next();
        if (accept_punct(")")) break;
        if (!is_punct(","))
          fail(cur(), "expected ')' after inputs of " + where + ", got " + describe(cur()));
        next();
      }
    }
    Attributes attrs = parse_attrs(schema, where);
    std::vector<TensorType> types;
    const Token& types_at = cur();
    if (accept_punct(":")) {
      for (;;) {
        types.push_back(parse_type());
        if (!accept_punct(",")) break;
      }
      if (types.size() != outs.size())
        fail(types_at, where + " has " + std::to_string(outs.size()) + " output" +
                           (outs.size() == 1 ? "" : "s") + " but " + std::to_string(types.size()) +
                           " type" + (types.size() == 1 ? "" : "s"));
    }
    const Token* name_tok = nullptr;
    if (cur().kind == Tok::AtName) name_tok = &next();
    if (!name_tok && outs.empty())
      fail(cur(), "expected a node name such as '@n1' for " + where +
                      " (a node without outputs needs one), got " + describe(cur()));
    const Token& name_at = name_tok ? *name_tok : *outs[0];
    std::string node_name = name_at.text;
    auto seen = node_at_.find(node_name);
    if (seen != node_at_.end())
      fail(name_at, "duplicate node name '" + node_name + "' (first used at line " +
                        std::to_string(seen->second) + ")" +
                        (name_tok ? "" : "; give this node another name with '@name'"));
    node_at_[node_name] = name_at.line;

    Node* node = guarded(op, [&] {
      return graph_->add_node(op.text, inputs, static_cast<int>(outs.size()), attrs, node_name);
    });
    for (size_t i = 0; i < outs.size(); ++i) {
      Value* v = node->output(static_cast<int>(i));
      const std::string& want = outs[i]->text;
      if (v->name() != want) {
        // The fresh name of a later output of this node may be the name this one wants.
        if (Value* holder = graph_->find_value(want)) {
          guarded(*outs[i], [&] {
            graph_->rename(holder, graph_->fresh_name(want + ".tmp"));
            return 0;
          });
        }
        guarded(*outs[i], [&] {
          graph_->rename(v, want);
          return 0;
        });
      }
      if (!types.empty()) v->set_type(types[i]);
      define(*outs[i], v);
    }
  }

  void parse_return() {
    next();
    std::vector<Value*> outputs;
    if (!is_punct("}")) {
      for (;;) {
        const Token& v = expect(Tok::ValueName, "a graph output such as '%y' after 'return'");
        outputs.push_back(use(v));
        if (!accept_punct(",")) break;
      }
    }
    graph_->set_outputs(std::move(outputs));
  }

  // Graph methods check their own invariants; a violation here is the text's fault, so it is
  // reported at the text's position.
  template <typename F> auto guarded(const Token& at, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const ParseError&) {
      throw;
    } catch (const Error& e) {
      fail(at, e.what());
    }
  }

  std::vector<Token> tokens_;
  const std::string& source_;
  size_t pos_ = 0;
  Graph* graph_ = nullptr;
  std::map<std::string, Value*> values_;
  std::map<std::string, int> defined_at_;
  std::map<std::string, int> node_at_;
};

} // namespace

Graph parse(const std::string& text, const std::string& source) {
  std::vector<Token> tokens = Lexer(text, source).run();
  return Parser(std::move(tokens), source).parse_graph();
}

Graph parse_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read IR file '" + path + "': " + std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  return parse(buf.str(), path);
}

} // namespace shrink
