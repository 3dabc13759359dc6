#include "shrink/transforms/infer_shapes.h"

#include "shrink/ir/shape_inference.h"
#include "shrink/pass/registry.h"

namespace shrink {

namespace {
const char* const kSummary = "Infers the static type (dtype and shape) of every value.";
} // namespace

InferShapesPass::InferShapesPass(const Options& options) {
  OptionReader reader("infer-shapes", options);
  reader.finish();
}

const PassInfo& InferShapesPass::info() const {
  static const PassInfo info{"infer-shapes", kSummary, {}, {"shapes"}, {}, {}};
  return info;
}

PassResult InferShapesPass::run(Graph& graph, PassContext& ctx) {
  std::vector<std::pair<Value*, TensorType>> before;
  for (Node* node : graph.nodes())
    for (Value* out : node->outputs())
      before.emplace_back(out, out->type());
  infer_shapes(graph);
  PassResult result;
  int64_t updated = 0;
  for (const auto& [value, type] : before)
    if (value->type() != type) ++updated;
  result.stats["updated"] = static_cast<double>(updated);
  result.changed = updated > 0;
  return result;
}

SHRINK_REGISTER_PASS(register_infer_shapes_pass, InferShapesPass, "infer-shapes", kSummary);

} // namespace shrink
