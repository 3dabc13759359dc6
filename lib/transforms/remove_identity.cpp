#include "shrink/transforms/remove_identity.h"

#include "shrink/ir/graph.h"
#include "shrink/pass/registry.h"
#include "shrink/pass/rewrite.h"

namespace shrink {

namespace {

const char* const kSummary = "Removes Identity, inference Dropout, and Reshape, Transpose and "
                             "Cast nodes that do not change their input.";

bool same_static_shape(const TensorType& a, const TensorType& b) {
  if (!a.ranked() || !b.ranked() || a.rank() != b.rank() || a.dtype != b.dtype) return false;
  int not_known = 0;
  for (int i = 0; i < a.rank(); ++i) {
    const Dim& da = (*a.dims)[static_cast<size_t>(i)];
    const Dim& db = (*b.dims)[static_cast<size_t>(i)];
    if (da.is_known() && db.is_known()) {
      if (da.value != db.value) return false;
      continue;
    }
    // One symbolic dimension in the same place is pinned down by the equal element count.
    if (!da.is_symbolic() || da != db) return false;
    ++not_known;
  }
  return not_known <= 1;
}

} // namespace

bool is_identity_node(const Node& node) {
  const std::string& op = node.op();
  const Value* in = node.input(0);
  if (!in || node.num_outputs() < 1) return false;
  if (op == "Identity") return true;
  if (op == "Dropout") {
    if (const Value* training = node.input(2)) {
      const Tensor* t = constant_value(training);
      if (!t || t->numel() != 1 || t->at(0) != 0.0) return false;
    }
    for (int i = 1; i < node.num_outputs(); ++i)
      if (!node.output(i)->uses().empty() || node.graph().is_output(node.output(i))) return false;
    return true;
  }
  if (op == "Reshape") return same_static_shape(in->type(), node.output(0)->type());
  if (op == "Transpose") {
    const TensorType& t = in->type();
    if (!node.has_attr("perm")) return t.ranked() && t.rank() <= 1;
    std::vector<int64_t> perm = node.attr_ints("perm");
    for (size_t i = 0; i < perm.size(); ++i)
      if (perm[i] != static_cast<int64_t>(i)) return false;
    return true;
  }
  if (op == "Cast") {
    // The input's dtype is only trustworthy once shapes are inferred (the pass requires it).
    return node.has_attr("to") && node.attr_int("to", -1) == onnx_dtype(in->type().dtype);
  }
  return false;
}

RemoveIdentityPass::RemoveIdentityPass(const Options& options) {
  OptionReader reader("remove-identity", options);
  reader.finish();
}

const PassInfo& RemoveIdentityPass::info() const {
  static const PassInfo info{"remove-identity", kSummary, {"shapes"}, {}, {}, {}};
  return info;
}

PassResult RemoveIdentityPass::run(Graph& graph, PassContext& ctx) {
  PassResult result;
  result.stats["removed"] = 0;
  for (Node* node : graph.nodes()) {
    if (!is_identity_node(*node)) continue;
    std::string op = node->op();
    if (!replace_and_erase(graph, node, node->output(0), node->input(0))) continue;
    result.stats["removed"] += 1;
    result.stats[op] += 1;
    result.changed = true;
  }
  return result;
}

SHRINK_REGISTER_PASS(register_remove_identity_pass, RemoveIdentityPass, "remove-identity",
                     kSummary);

} // namespace shrink
