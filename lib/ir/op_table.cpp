#include "shrink/ir/op_table.h"

#include "shrink/core/error.h"
#include "shrink/ir/graph.h"

#include <algorithm>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace shrink {

namespace {

AttrKind parse_kind(const std::string& k) {
  static const std::pair<const char*, AttrKind> kinds[] = {
      {"int", AttrKind::Int},      {"float", AttrKind::Float},   {"string", AttrKind::String},
      {"ints", AttrKind::Ints},    {"floats", AttrKind::Floats}, {"strings", AttrKind::Strings},
      {"tensor", AttrKind::Tensor}};
  for (const auto& [name, kind] : kinds)
    if (k == name) return kind;
  throw Error("ops.def: unknown attribute kind '" + k + "'");
}

std::vector<std::pair<std::string, AttrKind>> parse_attr_spec(const char* spec) {
  std::vector<std::pair<std::string, AttrKind>> out;
  std::istringstream in(spec);
  std::string item;
  while (in >> item) {
    auto colon = item.find(':');
    out.emplace_back(item.substr(0, colon), parse_kind(item.substr(colon + 1)));
  }
  return out;
}

struct Table {
  std::vector<OpSchema> schemas;
  std::unordered_map<std::string, const OpSchema*> by_name;
  std::vector<const OpSchema*> sorted;

  Table() {
#define SHRINK_OP(Name, min_in, max_in, min_out, max_out, attrs)                                   \
  schemas.push_back(OpSchema{#Name, min_in, max_in, min_out, max_out, parse_attr_spec(attrs),      \
                             &ops::infer_##Name, &ops::kernel_##Name});
#include "shrink/ir/ops.def"
#undef SHRINK_OP
    for (const OpSchema& s : schemas) {
      by_name[s.name] = &s;
      sorted.push_back(&s);
    }
    std::sort(sorted.begin(), sorted.end(),
              [](const OpSchema* a, const OpSchema* b) { return a->name < b->name; });
  }
};

const Table& table() {
  static const Table t;
  return t;
}

const OpSchema& schema_or_throw(const Node& node) {
  const OpSchema* s = find_op(node.op());
  if (!s)
    throw UnsupportedError("unsupported operator:",
                           {"op '" + node.op() + "' (node '" + node.name() + "')"});
  return *s;
}

} // namespace

const OpSchema* find_op(const std::string& op) {
  auto it = table().by_name.find(op);
  return it == table().by_name.end() ? nullptr : it->second;
}

const std::vector<const OpSchema*>& all_ops() {
  return table().sorted;
}

bool is_unary_elementwise(const std::string& op) {
  static const std::unordered_set<std::string> ops = {
      "Abs",        "Ceil",        "Cos",       "Erf",       "Exp",  "Floor",
      "Gelu",       "HardSigmoid", "HardSwish", "LeakyRelu", "Log",  "Neg",
      "Reciprocal", "Relu",        "Sigmoid",   "Sin",       "Sqrt", "Tanh"};
  return ops.count(op) != 0;
}

std::vector<TensorType> infer_node_types(const Node& node) {
  return schema_or_throw(node).infer(node);
}

std::vector<Tensor> evaluate_node(const Node& node, const std::vector<const Tensor*>& inputs) {
  std::vector<Tensor> outputs;
  schema_or_throw(node).kernel(node, inputs, outputs);
  return outputs;
}

} // namespace shrink
