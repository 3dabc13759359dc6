#include "shrink/transforms/fold_batchnorm.h"

#include "shrink/core/error.h"
#include "shrink/pass/registry.h"
#include "shrink/pass/rewrite.h"

#include <cmath>

namespace shrink {

namespace {

const char* const kSummary = "Folds BatchNormalization into the Conv, ConvTranspose, Gemm or "
                             "MatMul with constant weights that feeds it.";

/// The per-channel affine map y = s * x + t that an inference-mode BatchNormalization applies.
struct ChannelAffine {
  std::vector<float> scale;
  std::vector<float> shift;
  int64_t channels() const { return static_cast<int64_t>(scale.size()); }
};

const Tensor* f32_constant(const Value* v) {
  const Tensor* t = constant_value(v);
  return t && t->dtype() == DType::f32 && !t->quant() ? t : nullptr;
}

/// The affine map of `bn`, or nullopt when `bn` is not a foldable inference BatchNormalization.
std::optional<ChannelAffine> batchnorm_affine(const Node& bn, const Graph& graph) {
  if (bn.op() != "BatchNormalization" || bn.num_inputs() != 5) return std::nullopt;
  if (bn.attr_int("training_mode", 0) != 0) return std::nullopt;
  // Training-mode outputs (running mean/var) must be unused for the node to vanish.
  for (int i = 1; i < bn.num_outputs(); ++i)
    if (!bn.output(i)->uses().empty() || graph.is_output(bn.output(i))) return std::nullopt;
  const Tensor* gamma = f32_constant(bn.input(1));
  const Tensor* beta = f32_constant(bn.input(2));
  const Tensor* mean = f32_constant(bn.input(3));
  const Tensor* var = f32_constant(bn.input(4));
  if (!gamma || !beta || !mean || !var) return std::nullopt;
  const int64_t c = gamma->numel();
  if (gamma->rank() != 1 || beta->numel() != c || mean->numel() != c || var->numel() != c)
    return std::nullopt;
  const float eps = bn.attr_float("epsilon", 1e-5f);
  ChannelAffine a;
  for (int64_t i = 0; i < c; ++i) {
    const double s = gamma->data<float>()[i] / std::sqrt(double(var->data<float>()[i]) + eps);
    a.scale.push_back(static_cast<float>(s));
    a.shift.push_back(static_cast<float>(beta->data<float>()[i] - mean->data<float>()[i] * s));
  }
  return a;
}

/// The new bias s * b + t over `channels` entries; `bias` may be null (zero).
Tensor folded_bias(const Tensor* bias, const ChannelAffine& a) {
  Tensor out(DType::f32, {a.channels()});
  float* o = out.data_mutable<float>();
  for (int64_t c = 0; c < a.channels(); ++c)
    o[c] = (bias ? bias->data<float>()[c] * a.scale[c] : 0.0f) + a.shift[c];
  return out;
}

/// Weights with every element multiplied by the scale of its output channel, which
/// `channel_of(flat index)` gives.
template <typename F> Tensor scaled_weights(const Tensor& w, const ChannelAffine& a, F channel_of) {
  Tensor out(DType::f32, w.shape());
  const float* src = w.data<float>();
  float* dst = out.data_mutable<float>();
  for (int64_t i = 0; i < w.numel(); ++i)
    dst[i] = src[i] * a.scale[static_cast<size_t>(channel_of(i))];
  return out;
}

class FoldBatchNormRule : public RewriteRule {
public:
  std::string name() const override { return "folded"; }

  bool match_and_rewrite(Node& bn, Graph& graph) override {
    if (bn.op() != "BatchNormalization") return false;
    Value* x = bn.input(0);
    Node* producer = x ? x->producer() : nullptr;
    if (!producer || single_user(x) != &bn) return false;
    std::optional<ChannelAffine> affine = batchnorm_affine(bn, graph);
    if (!affine) return false;
    Value* y = bn.output(0);
    if (!can_replace(graph, y, x)) return false;
    bool folded = false;
    const std::string& op = producer->op();
    if (op == "Conv")
      folded = fold_conv(*producer, *affine, graph, false);
    else if (op == "ConvTranspose")
      folded = fold_conv(*producer, *affine, graph, true);
    else if (op == "Gemm")
      folded = fold_gemm(*producer, *affine, graph);
    else if (op == "MatMul")
      folded = fold_matmul(*producer, *affine, graph);
    if (!folded) return false;
    Value* result = x;
    // fold_matmul appends an Add; its output is what the BatchNormalization's users now read.
    if (op == "MatMul") result = single_user(x)->output(0);
    replace_and_erase(graph, &bn, y, result);
    return true;
  }

private:
  static bool fold_conv(Node& conv, const ChannelAffine& a, Graph& graph, bool transposed) {
    const Tensor* w = f32_constant(conv.input(1));
    const Tensor* b = conv.input(2) ? f32_constant(conv.input(2)) : nullptr;
    if (!w || w->rank() < 3 || (conv.input(2) && !b)) return false;
    const int64_t group = conv.attr_int("group", 1);
    if (group < 1) return false;
    const int64_t c = a.channels();
    int64_t spatial = 1;
    for (int d = 2; d < w->rank(); ++d)
      spatial *= w->dim(d);
    Tensor scaled;
    if (!transposed) {
      // W is [Cout, Cin/group, k...]: channel = index / (Cin/group * k...).
      if (w->dim(0) != c) return false;
      const int64_t per_out = w->dim(1) * spatial;
      scaled = scaled_weights(*w, a, [&](int64_t i) { return i / per_out; });
    } else {
      // W is [Cin, Cout/group, k...]: input channel ci of group g feeds outputs
      // g * Cout/group + j.
      const int64_t cin = w->dim(0), cout_g = w->dim(1);
      if (cin % group != 0 || cout_g * group != c) return false;
      const int64_t cin_g = cin / group;
      scaled = scaled_weights(*w, a, [&](int64_t i) {
        const int64_t ci = i / (cout_g * spatial);
        const int64_t j = (i / spatial) % cout_g;
        return (ci / cin_g) * cout_g + j;
      });
    }
    if (b && b->numel() != c) return false;
    Tensor bias = folded_bias(b, a);
    set_constant_input(graph, &conv, 1, std::move(scaled), conv.input(1)->name());
    set_constant_input(graph, &conv, 2, std::move(bias),
                       conv.input(2) ? conv.input(2)->name() : conv.name() + "_bias");
    return true;
  }

  static bool fold_gemm(Node& gemm, const ChannelAffine& a, Graph& graph) {
    const Tensor* w = f32_constant(gemm.input(1));
    if (!w || w->rank() != 2) return false;
    const bool trans_b = gemm.attr_int("transB", 0) != 0;
    const int64_t c = a.channels();
    const int64_t rows = w->dim(0), cols = w->dim(1);
    if ((trans_b ? rows : cols) != c) return false;
    const Tensor* bias = nullptr;
    if (gemm.input(2)) {
      bias = f32_constant(gemm.input(2));
      if (!bias) return false;
    }
    const float beta = gemm.attr_float("beta", 1.0f);
    // The new C is s * (beta * C) + t, broadcast over the output columns; beta becomes 1.
    Shape c_shape = {c};
    if (bias) {
      const Shape& bs = bias->shape();
      if (bias->numel() == 1 || (bs.size() == 1 && bs[0] == c)) {
        c_shape = {c};
      } else if (bs.size() == 2 && (bs[1] == c || bs[1] == 1)) {
        c_shape = {bs[0], c};
      } else {
        return false;
      }
    }
    Tensor new_c(DType::f32, c_shape);
    float* nc = new_c.data_mutable<float>();
    const int64_t n_rows = c_shape.size() == 2 ? c_shape[0] : 1;
    for (int64_t r = 0; r < n_rows; ++r)
      for (int64_t j = 0; j < c; ++j) {
        float cv = 0.0f;
        if (bias) {
          const Shape& bs = bias->shape();
          int64_t idx = 0;
          if (bias->numel() == 1)
            idx = 0;
          else if (bs.size() == 1)
            idx = j;
          else
            idx = r * bs[1] + (bs[1] == 1 ? 0 : j);
          cv = beta * bias->data<float>()[idx];
        }
        nc[r * c + j] = cv * a.scale[j] + a.shift[j];
      }
    Tensor scaled = scaled_weights(*w, a, [&](int64_t i) { return trans_b ? i / cols : i % cols; });
    // alpha scales A*B and stays as it is, so rescaling B is enough.
    set_constant_input(graph, &gemm, 1, std::move(scaled), gemm.input(1)->name());
    set_constant_input(graph, &gemm, 2, std::move(new_c),
                       gemm.input(2) ? gemm.input(2)->name() : gemm.name() + "_bias");
    if (beta != 1.0f) gemm.set_attr("beta", 1.0f);
    return true;
  }

  static bool fold_matmul(Node& mm, const ChannelAffine& a, Graph& graph) {
    // BatchNormalization normalises axis 1, which is MatMul's last axis only for 2-D outputs.
    const TensorType& t = mm.output(0)->type();
    if (!t.ranked() || t.rank() != 2) return false;
    const Tensor* w = f32_constant(mm.input(1));
    if (!w || w->rank() != 2 || w->dim(1) != a.channels()) return false;
    const int64_t cols = w->dim(1);
    Tensor scaled = scaled_weights(*w, a, [&](int64_t i) { return i % cols; });
    set_constant_input(graph, &mm, 1, std::move(scaled), mm.input(1)->name());
    Value* bias =
        graph.add_initializer(graph.fresh_name(mm.name() + "_bias"), folded_bias(nullptr, a));
    std::vector<Use> uses = mm.output(0)->uses();
    Node* bn = uses.at(0).node;
    Node* add = graph.add_node("Add", {mm.output(0), bias}, 1, {},
                               graph.fresh_name(mm.name() + "_add"), bn);
    add->output(0)->set_type(mm.output(0)->type());
    // The Add takes over the MatMul's one consumer.
    graph.set_input(bn, uses[0].index, add->output(0));
    return true;
  }
};

} // namespace

FoldBatchNormPass::FoldBatchNormPass(const Options& options) {
  OptionReader reader("fold-batchnorm", options);
  reader.finish();
}

const PassInfo& FoldBatchNormPass::info() const {
  static const PassInfo info{"fold-batchnorm", kSummary, {"shapes"}, {}, {}, {}};
  return info;
}

PassResult FoldBatchNormPass::run(Graph& graph, PassContext& ctx) {
  PassResult result;
  std::vector<std::unique_ptr<RewriteRule>> rules;
  rules.push_back(std::make_unique<FoldBatchNormRule>());
  result.stats["folded"] = 0;
  result.changed = apply_rules_to_fixpoint(graph, rules, &result.stats);
  // A warning rather than a counter: inside a fixpoint counters add up over rounds, while
  // identical warnings are reported once.
  std::vector<std::string> left;
  for (Node* n : graph.nodes())
    if (n->op() == "BatchNormalization") left.push_back("'" + n->name() + "'");
  if (!left.empty()) {
    std::string names;
    for (size_t i = 0; i < left.size() && i < 8; ++i)
      names += (i ? ", " : "") + left[i];
    if (left.size() > 8) names += ", ...";
    result.warnings.push_back(
        std::to_string(left.size()) + " BatchNormalization node" +
        (left.size() == 1 ? " was" : "s were") + " not folded (" + names +
        "): the producer must be a Conv, ConvTranspose, Gemm or 2-D MatMul with constant f32 "
        "weights whose output feeds only the BatchNormalization, in inference mode");
  }
  return result;
}

SHRINK_REGISTER_PASS(register_fold_batchnorm_pass, FoldBatchNormPass, "fold-batchnorm", kSummary);

} // namespace shrink
