#include "shrink/transforms/const_fold.h"

#include "shrink/core/error.h"
#include "shrink/ir/op_table.h"
#include "shrink/pass/registry.h"
#include "shrink/pass/rewrite.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <unordered_map>

namespace shrink {

namespace {

const char* const kSummary = "Evaluates nodes whose inputs are all constant (and shapes that are "
                             "statically known) and replaces them with initializers.";

/// One element of a partially known shape tensor: its value when known, else the (symbolic or
/// unknown) dimension it was read from.
struct PartialElem {
  std::optional<int64_t> value;
  Dim dim = Dim::unknown();
};

/// A small i64 tensor (a shape or part of one) whose elements may be unknown: what `Shape` of a
/// value with symbolic dimensions gives.
struct PartialInts {
  Shape shape;
  std::vector<PartialElem> elems;

  bool all_known() const {
    return std::all_of(elems.begin(), elems.end(),
                       [](const auto& e) { return e.value.has_value(); });
  }
  Tensor to_tensor() const {
    std::vector<int64_t> v;
    for (const auto& e : elems)
      v.push_back(*e.value);
    return Tensor::from_vector<int64_t>(shape, v);
  }
};

/// Ops that only move elements of their data inputs around. Evaluating them on tensors of
/// element ids tells where every output element came from.
const std::vector<int>* data_inputs(const std::string& op) {
  static const std::unordered_map<std::string, std::vector<int>> table = {
      {"Gather", {0}},  {"Slice", {0}},    {"Unsqueeze", {0}}, {"Squeeze", {0}},
      {"Reshape", {0}}, {"Identity", {0}}, {"Flatten", {0}},   {"Concat", {}},
  };
  auto it = table.find(op);
  return it == table.end() ? nullptr : &it->second;
}

bool is_data_input(const std::string& op, const std::vector<int>& data, int index) {
  return op == "Concat" || std::find(data.begin(), data.end(), index) != data.end();
}

std::optional<PartialInts> shape_of_type(const Node& node) {
  const TensorType& t = node.input(0)->type();
  if (!t.ranked()) return std::nullopt;
  const int64_t rank = t.rank();
  auto clamp_index = [&](int64_t i) {
    if (i < 0) i += rank;
    return std::min(std::max<int64_t>(i, 0), rank);
  };
  const int64_t start = clamp_index(node.attr_int("start", 0));
  const int64_t end = clamp_index(node.attr_int("end", rank));
  PartialInts p;
  for (int64_t d = start; d < end; ++d) {
    const Dim& dim = (*t.dims)[static_cast<size_t>(d)];
    p.elems.push_back({dim.is_known() ? std::optional<int64_t>(dim.value) : std::nullopt, dim});
  }
  p.shape = {static_cast<int64_t>(p.elems.size())};
  return p;
}

int64_t product(const std::vector<int64_t>& v) {
  int64_t n = 1;
  for (int64_t x : v)
    n *= std::max<int64_t>(x, 0);
  return n;
}

/// Output elements a fold would create, computed before evaluating so that a huge Expand or
/// ConstantOfShape is never materialised; -1 when it cannot be told cheaply.
int64_t estimated_output_elements(const Node& node, const std::vector<const Tensor*>& in) {
  int64_t total = 0;
  bool known = true;
  for (const Value* out : node.outputs()) {
    if (!out->type().fully_known()) {
      known = false;
      break;
    }
    total += shape_numel(out->type().concrete());
  }
  if (known) return total;
  auto ints = [](const Tensor* t) {
    std::vector<int64_t> v;
    if (!t || is_float(t->dtype())) return v;
    for (double d : t->to_doubles())
      v.push_back(static_cast<int64_t>(d));
    return v;
  };
  const std::string& op = node.op();
  if (op == "ConstantOfShape" && !in.empty() && in[0]) return product(ints(in[0]));
  if (op == "Tile" && in.size() == 2 && in[0] && in[1])
    return in[0]->numel() * product(ints(in[1]));
  if (op == "Expand" && in.size() == 2 && in[0] && in[1]) {
    std::vector<int64_t> a = in[0]->shape(), b = ints(in[1]);
    size_t r = std::max(a.size(), b.size());
    a.insert(a.begin(), r - a.size(), 1);
    b.insert(b.begin(), r - b.size(), 1);
    int64_t n = 1;
    for (size_t i = 0; i < r; ++i)
      n *= std::max(a[i], b[i]);
    return n;
  }
  if (op == "Range" && in.size() == 3 && in[0] && in[1] && in[2]) {
    double start = in[0]->at(0), limit = in[1]->at(0), delta = in[2]->at(0);
    if (delta == 0) return -1;
    return std::max<int64_t>(0, static_cast<int64_t>(std::ceil((limit - start) / delta)));
  }
  return -1;
}

class Folder {
public:
  Folder(Graph& graph, const ConstFoldOptions& options, PassResult& result)
      : graph_(graph), options_(options), result_(result) {}

  void run() {
    for (Node* node : graph_.nodes()) {
      if (try_fold_constant(node)) continue;
      try_fold_shape(node);
    }
  }

private:
  /// Replaces every output of `node` by an initializer holding `values`, keeping value names.
  void replace_with_constants(Node* node, std::vector<Tensor> values) {
    std::vector<std::pair<Value*, std::string>> fresh;
    for (int i = 0; i < node->num_outputs(); ++i) {
      Value* out = node->output(i);
      Value* c = graph_.add_initializer(graph_.fresh_name(out->name() + "_folded"),
                                        std::move(values[static_cast<size_t>(i)]));
      graph_.replace_all_uses(out, c);
      fresh.emplace_back(c, out->name());
    }
    graph_.erase(node);
    for (auto& [c, name] : fresh)
      if (!graph_.find_value(name)) graph_.rename(c, name);
    result_.changed = true;
  }

  bool try_fold_constant(Node* node) {
    // Folding DequantizeLinear would turn quantized weights back into float weights: the QDQ
    // form keeps them quantized on purpose.
    if (node->op() == "DequantizeLinear") return false;
    // A Constant's tensor already exists: it moves to an initializer, sharing its storage, at
    // any size.
    if (const Tensor* t = node->op() == "Constant" ? constant_value(node->output(0)) : nullptr) {
      result_.stats["folded"] += 1;
      replace_with_constants(node, {*t});
      return true;
    }
    std::vector<const Tensor*> inputs;
    int64_t input_elements = 0;
    for (const Value* in : node->inputs()) {
      if (!in) {
        inputs.push_back(nullptr);
        continue;
      }
      const Tensor* t = constant_value(in);
      if (!t) return false;
      inputs.push_back(t);
      input_elements += t->numel();
    }
    if (!find_op(node->op())) return false;
    const int64_t limit = options_.max_elements;
    int64_t estimate = estimated_output_elements(*node, inputs);
    if (estimate > limit && estimate > input_elements) {
      result_.stats["skipped_large"] += 1;
      return false;
    }
    std::vector<Tensor> outputs;
    try {
      outputs = evaluate_node(*node, inputs);
    } catch (const Error& e) {
      result_.warnings.push_back("could not fold node '" + node->name() + "' (" + node->op() +
                                 "): " + e.what());
      return false;
    }
    if (static_cast<int>(outputs.size()) != node->num_outputs()) return false;
    int64_t produced = 0;
    for (const Tensor& t : outputs)
      produced += t.numel();
    if (produced > limit && produced > input_elements) {
      result_.stats["skipped_large"] += 1;
      return false;
    }
    result_.stats["folded"] += 1;
    replace_with_constants(node, std::move(outputs));
    return true;
  }

  void try_fold_shape(Node* node) {
    if (node->op() == "Reshape") try_fold_reshape_target(node);
    std::optional<PartialInts> result;
    if (node->op() == "Shape") {
      result = shape_of_type(*node);
    } else if (const std::vector<int>* data = data_inputs(node->op())) {
      result = propagate(node, *data);
    }
    if (!result) return;
    if (result->all_known()) {
      result_.stats["shapes_folded"] += 1;
      replace_with_constants(node, {result->to_tensor()});
      return;
    }
    partial_[node->output(0)] = std::move(*result);
  }

  /// Replaces a Reshape target computed from shapes (`x.view(x.size(0), x.size(1), 4, 32)`
  /// exports as Shape -> Gather -> Unsqueeze -> Concat) by a constant: an entry read from a
  /// dimension that equals the input's dimension at the same index becomes 0 (copy), and one
  /// remaining unknown entry becomes -1 (inferred from the element count).
  void try_fold_reshape_target(Node* node) {
    if (node->num_inputs() < 2 || constant_value(node->input(1))) return;
    auto p = partial_.find(node->input(1));
    if (p == partial_.end() || p->second.shape.size() != 1) return;
    const TensorType& x = node->input(0)->type();
    const bool allowzero = node->attr_int("allowzero", 0) != 0;
    std::vector<int64_t> target;
    int unknown = 0;
    for (size_t i = 0; i < p->second.elems.size(); ++i) {
      const PartialElem& e = p->second.elems[i];
      if (e.value) {
        // Literal entries keep their meaning; a literal -1 takes the one inferred slot.
        target.push_back(*e.value);
        if (*e.value == -1) ++unknown;
      } else if (!allowzero && x.ranked() && i < x.dims->size() && e.dim.is_symbolic() &&
                 (*x.dims)[i] == e.dim) {
        target.push_back(0);
      } else {
        target.push_back(-1);
        ++unknown;
      }
    }
    if (unknown > 1) return;
    Value* c = graph_.add_initializer(
        graph_.fresh_name(node->input(1)->name() + "_folded"),
        Tensor::from_vector<int64_t>({static_cast<int64_t>(target.size())}, target));
    graph_.set_input(node, 1, c);
    result_.stats["reshapes_folded"] += 1;
    result_.changed = true;
  }

  /// Evaluates a data-movement node on tensors of element ids to learn which known elements
  /// its output holds.
  std::optional<PartialInts> propagate(Node* node, const std::vector<int>& data) {
    if (node->num_outputs() != 1) return std::nullopt;
    std::vector<Tensor> id_tensors;
    id_tensors.reserve(static_cast<size_t>(node->num_inputs()));
    std::vector<const Tensor*> inputs;
    std::vector<PartialElem> table;
    bool any_partial = false;
    for (int i = 0; i < node->num_inputs(); ++i) {
      const Value* in = node->input(i);
      if (!in) {
        inputs.push_back(nullptr);
        continue;
      }
      const Tensor* c = constant_value(in);
      auto p = partial_.find(in);
      if (!is_data_input(node->op(), data, i)) {
        if (!c) return std::nullopt;
        inputs.push_back(c);
        continue;
      }
      Shape shape;
      std::vector<PartialElem> elems;
      if (p != partial_.end()) {
        shape = p->second.shape;
        elems = p->second.elems;
        any_partial = true;
      } else if (c && c->dtype() == DType::i64 && c->rank() <= 1) {
        shape = c->shape();
        for (int64_t k = 0; k < c->numel(); ++k)
          elems.push_back({c->data<int64_t>()[k], Dim::known(c->data<int64_t>()[k])});
      } else {
        return std::nullopt;
      }
      std::vector<int64_t> ids;
      for (const auto& e : elems) {
        ids.push_back(static_cast<int64_t>(table.size()));
        table.push_back(e);
      }
      id_tensors.push_back(Tensor::from_vector<int64_t>(shape, ids));
      inputs.push_back(&id_tensors.back());
    }
    if (!any_partial) return std::nullopt;
    std::vector<Tensor> out;
    try {
      out = evaluate_node(*node, inputs);
    } catch (const Error&) {
      return std::nullopt;
    }
    if (out.size() != 1 || out[0].dtype() != DType::i64 || out[0].rank() > 1) return std::nullopt;
    PartialInts r;
    r.shape = out[0].shape();
    for (int64_t k = 0; k < out[0].numel(); ++k) {
      int64_t id = out[0].data<int64_t>()[k];
      if (id < 0 || id >= static_cast<int64_t>(table.size())) return std::nullopt;
      r.elems.push_back(table[static_cast<size_t>(id)]);
    }
    return r;
  }

  Graph& graph_;
  const ConstFoldOptions& options_;
  PassResult& result_;
  std::unordered_map<const Value*, PartialInts> partial_;
};

} // namespace

ConstFoldPass::ConstFoldPass(const ConstFoldOptions& options) : options_(options) {}

ConstFoldPass::ConstFoldPass(const Options& options) {
  OptionReader reader("const-fold", options);
  options_.max_elements = reader.get_int("max_elements", options_.max_elements);
  reader.finish();
  if (options_.max_elements < 0)
    throw RecipeError("pass 'const-fold': option 'max_elements' must not be negative");
}

const PassInfo& ConstFoldPass::info() const {
  static const PassInfo info{"const-fold", kSummary, {"shapes"}, {}, {}, {}};
  return info;
}

PassResult ConstFoldPass::run(Graph& graph, PassContext& ctx) {
  PassResult result;
  result.stats["folded"] = 0;
  result.stats["shapes_folded"] = 0;
  result.stats["reshapes_folded"] = 0;
  Folder(graph, options_, result).run();
  return result;
}

SHRINK_REGISTER_PASS(register_const_fold_pass, ConstFoldPass, "const-fold", kSummary);

} // namespace shrink
