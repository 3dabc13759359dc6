#include "shrink/core/error.h"
#include "shrink/ir/graph.h"
#include "shrink/ir/text.h"
#include "text_syntax.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <type_traits>

namespace shrink {

namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\r':
      out += "\\r";
      break;
    default:
      if (c < 0x20 || c == 0x7f) {
        char buf[5];
        std::snprintf(buf, sizeof(buf), "\\x%02x", c);
        out += buf;
      } else {
        out += ch;
      }
    }
  }
  return out + "\"";
}

std::string sigil_name(char sigil, const std::string& name) {
  return std::string(1, sigil) + (text_syntax::is_bare_name(name) ? name : quote(name));
}

std::string value_ref(const Value* v) {
  return v ? sigil_name('%', v->name()) : "_";
}

std::string key_text(const std::string& key) {
  return text_syntax::is_identifier(key) ? key : quote(key);
}

// Floats always carry a '.' or an exponent so that the parser can tell them from integers; the
// digits are the shortest that read back to the same float, so values round-trip bit for bit.
std::string float_text(float v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  std::string s(buf, res.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

// f16 and bf16 need fewer digits than the float they widen to: 0.1 rather than 0.099975586. The
// shortest decimal that narrows back to the same bits is what a person would have written.
std::string half_text(uint16_t bits, DType dtype) {
  auto narrow = [dtype](float f) {
    return dtype == DType::f16 ? float_to_half(f) : float_to_bf16(f);
  };
  float wide = dtype == DType::f16 ? half_to_float(bits) : bf16_to_float(bits);
  if (!std::isfinite(wide)) return float_text(wide);
  for (int precision = 1; precision <= 9; ++precision) {
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof(buf), wide, std::chars_format::general, precision);
    float back = 0;
    auto parsed = std::from_chars(buf, res.ptr, back);
    if (parsed.ec == std::errc() && narrow(back) == bits) {
      std::string s(buf, res.ptr);
      if (s.find_first_of(".e") == std::string::npos) s += ".0";
      return s;
    }
  }
  return float_text(wide);
}

std::string int_text(int64_t v) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

std::string dim_text(const Dim& d) {
  if (d.is_known()) return int_text(d.value);
  if (d.is_symbolic()) return text_syntax::is_identifier(d.symbol) ? d.symbol : quote(d.symbol);
  return "?";
}

std::string element_text(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
  case DType::f32:
    return float_text(t.data<float>()[i]);
  case DType::f16:
  case DType::bf16:
    return half_text(static_cast<const uint16_t*>(t.raw())[i], t.dtype());
  case DType::i64:
    return int_text(t.data<int64_t>()[i]);
  case DType::boolean:
    return t.data<bool>()[i] ? "true" : "false";
  default:
    return int_text(static_cast<int64_t>(t.at(i)));
  }
}

template <typename T, typename F>
std::string list_text(const std::vector<T>& items, F&& item_text, const char* sep) {
  std::string s = "[";
  for (size_t i = 0; i < items.size(); ++i)
    s += (i ? sep : "") + item_text(items[i]);
  return s + "]";
}

std::string quant_text(const QuantParams& q) {
  std::vector<int64_t> zps(q.zero_points.begin(), q.zero_points.end());
  return "quant(axis=" + int_text(q.axis) + ", scales=" + list_text(q.scales, float_text, ",") +
         ", zero_points=" + list_text(zps, int_text, ",") + ")";
}

// `<payload>` of a constant: inline values, or the content hash when too large to be useful.
std::string tensor_payload(const Tensor& t, const PrintOptions& options) {
  std::string s;
  if (options.max_inline_elements < 0 || t.numel() <= options.max_inline_elements) {
    s = "[";
    for (int64_t i = 0; i < t.numel(); ++i)
      s += (i ? ", " : "") + element_text(t, i);
    s += "]";
  } else {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "hash(0x%016llx)",
                  static_cast<unsigned long long>(t.content_hash()));
    s = buf;
  }
  if (t.quant()) s += " " + quant_text(*t.quant());
  return s;
}

std::string tensor_type_text(const Tensor& t) {
  return print_type(TensorType::of(t.dtype(), t.shape()));
}

std::string attr_text(const Attribute& a, const PrintOptions& options) {
  return std::visit(
      [&](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          return int_text(v);
        } else if constexpr (std::is_same_v<T, float>) {
          return float_text(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          return quote(v);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          // An empty list says its kind, since `[]` alone could be any of the three.
          return (v.empty() ? "ints" : "") + list_text(v, int_text, ",");
        } else if constexpr (std::is_same_v<T, std::vector<float>>) {
          return (v.empty() ? "floats" : "") + list_text(v, float_text, ",");
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          return (v.empty() ? "strings" : "") + list_text(v, quote, ",");
        } else {
          return "tensor<" + tensor_type_text(v) + "> " + tensor_payload(v, options);
        }
      },
      a);
}

} // namespace

std::string print_type(const TensorType& type) {
  std::string s = dtype_name(type.dtype);
  if (!type.dims) return s;
  s += "[";
  for (size_t i = 0; i < type.dims->size(); ++i)
    s += (i ? "," : "") + dim_text((*type.dims)[i]);
  return s + "]";
}

std::string print_node(const Node& node, const PrintOptions& options) {
  std::string s;
  for (int i = 0; i < node.num_outputs(); ++i)
    s += (i ? ", " : "") + value_ref(node.output(i));
  if (node.num_outputs() > 0) s += " = ";
  s += node.op() + "(";
  for (int i = 0; i < node.num_inputs(); ++i)
    s += (i ? ", " : "") + value_ref(node.input(i));
  s += ")";
  if (!node.attrs().empty()) {
    s += " {";
    bool first = true;
    for (const auto& [key, value] : node.attrs()) {
      s += (first ? "" : ", ") + key_text(key) + "=" + attr_text(value, options);
      first = false;
    }
    s += "}";
  }
  if (node.num_outputs() > 0) {
    s += " :";
    for (int i = 0; i < node.num_outputs(); ++i) {
      const Value* out = node.output(i);
      s += (i ? ", " : " ") + (out ? print_type(out->type()) : std::string("f32"));
    }
  }
  // The name is implied when it equals the first output's name, which keeps golden files short.
  const Value* first = node.num_outputs() > 0 ? node.output(0) : nullptr;
  if (!first || node.name() != first->name()) s += " " + sigil_name('@', node.name());
  return s;
}

std::string print(const Graph& graph, const PrintOptions& options) {
  std::string s = "graph " + sigil_name('@', graph.name()) + "(";
  for (size_t i = 0; i < graph.inputs().size(); ++i) {
    const Value* in = graph.inputs()[i];
    s += (i ? ", " : "") + value_ref(in) + ": " + print_type(in->type());
  }
  s += ") {\n";
  for (const Value* init : graph.initializers()) {
    const Tensor& t = init->initializer();
    s += "  " + value_ref(init) + " = const " + tensor_type_text(t) + " " +
         tensor_payload(t, options) + "\n";
  }
  for (const Node* node : graph.nodes())
    s += "  " + print_node(*node, options) + "\n";
  s += "  return";
  for (size_t i = 0; i < graph.outputs().size(); ++i)
    s += (i ? ", " : " ") + value_ref(graph.outputs()[i]);
  s += "\n}\n";
  return s;
}

} // namespace shrink
