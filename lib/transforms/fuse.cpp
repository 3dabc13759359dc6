#include "shrink/transforms/fuse.h"

#include "shrink/core/error.h"
#include "shrink/pass/registry.h"
#include "shrink/pass/rewrite.h"

#include <algorithm>
#include <cmath>

namespace shrink {

namespace {

const char* const kSummary = "Fuses decomposed LayerNorm, GELU (erf and tanh forms), HardSwish "
                             "and MatMul+Add patterns into single ops.";

constexpr double kPi = 3.14159265358979323846;

const std::vector<std::string>& all_patterns() {
  static const std::vector<std::string> names = {"layernorm", "gelu", "gelu-tanh", "gemm",
                                                 "hardswish"};
  return names;
}

Node* producer_op(const Value* v, const char* op) {
  Node* p = v ? v->producer() : nullptr;
  return p && p->op() == op ? p : nullptr;
}

/// For a commutative binary node, the operand that is not `known`; nullptr when `known` is not
/// one of the two operands (or the node is not binary).
Value* other_operand(const Node* n, const Value* known) {
  if (!n || n->num_inputs() != 2) return nullptr;
  if (n->input(0) == known) return n->input(1);
  if (n->input(1) == known) return n->input(0);
  return nullptr;
}

/// For a commutative binary node with one scalar-constant operand equal to `value`, the other
/// operand; nullptr otherwise.
Value* operand_beside_scalar(const Node* n, double value, double tol = 1e-4) {
  if (!n || n->num_inputs() != 2) return nullptr;
  if (is_scalar_constant(n->input(1), value, tol)) return n->input(0);
  if (is_scalar_constant(n->input(0), value, tol)) return n->input(1);
  return nullptr;
}

bool is_f32(const Value* v) {
  return v && v->type().dtype == DType::f32;
}

/// Collects the `Constant` producers of `node`'s inputs, which may die with the pattern.
void add_constant_producers(const Node* node, std::vector<Node*>& out) {
  for (const Value* in : node->inputs())
    if (in && in->producer() && in->producer()->op() == "Constant") out.push_back(in->producer());
}

/// Replaces the pattern ending in `last` (whose output is `old_out`) by `fused`: the fused node's
/// output takes the old output's users, type and name, and the pattern's nodes (and Constant
/// nodes only they used) are erased.
void commit(Graph& graph, Node* fused, Value* old_out, const std::vector<Node*>& pattern) {
  Value* out = fused->output(0);
  out->set_type(old_out->type());
  std::string name = old_out->name();
  graph.replace_all_uses(old_out, out);
  std::vector<Node*> dead = pattern;
  for (const Node* n : pattern)
    add_constant_producers(n, dead);
  erase_dead(graph, dead);
  adopt_name(graph, out, name);
}

/// Matches `x * 0.5 * t` built from `t` (the `1 + erf(...)` or `1 + tanh(...)` value) in any of
/// the association orders exporters produce. Returns the nodes of the product and sets `*last`
/// to the node whose output is the result.
bool match_half_product(Value* x, Value* t, std::vector<Node*>& nodes, Node** last) {
  Node* u = single_user(t);
  if (!u || u->op() != "Mul") return false;
  Value* other = other_operand(u, t);
  if (!other) return false;
  if (other == x) {
    // (x * t) * 0.5
    Node* w = single_user(u->output(0));
    if (!w || w->op() != "Mul" || operand_beside_scalar(w, 0.5) != u->output(0)) return false;
    nodes.insert(nodes.end(), {u, w});
    *last = w;
    return true;
  }
  if (Node* h = producer_op(other, "Mul")) {
    // (x * 0.5) * t
    if (operand_beside_scalar(h, 0.5) != x || single_user(h->output(0)) != u) return false;
    nodes.insert(nodes.end(), {h, u});
    *last = u;
    return true;
  }
  if (is_scalar_constant(other, 0.5, 1e-4)) {
    // x * (t * 0.5)
    Node* v = single_user(u->output(0));
    if (!v || v->op() != "Mul" || other_operand(v, u->output(0)) != x) return false;
    nodes.insert(nodes.end(), {u, v});
    *last = v;
    return true;
  }
  return false;
}

/// The reduction axes of a ReduceMean (attribute, or constant input since opset 18).
bool reduce_axes(const Node& n, std::vector<int64_t>& axes) {
  if (n.has_attr("axes")) {
    axes = n.attr_ints("axes");
    return true;
  }
  if (const Value* a = n.input(1)) {
    const Tensor* t = constant_value(a);
    if (!t) return false;
    axes.clear();
    for (double d : t->to_doubles())
      axes.push_back(static_cast<int64_t>(d));
    return true;
  }
  return false;
}

/// The normalised (trailing, contiguous) axes of a LayerNorm over a rank-`rank` input: returns
/// the first axis, or -1 when `axes` are not the last ones.
int64_t trailing_axis(std::vector<int64_t> axes, int rank) {
  if (axes.empty()) return -1;
  for (int64_t& a : axes) {
    if (a < 0) a += rank;
    if (a < 0 || a >= rank) return -1;
  }
  std::sort(axes.begin(), axes.end());
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i] != rank - static_cast<int64_t>(axes.size()) + static_cast<int64_t>(i)) return -1;
  return axes[0];
}

/// `t` reshaped to `shape` when it has that many elements and, leading 1s aside, that shape (or
/// is a scalar, which is broadcast); nullopt otherwise.
std::optional<Tensor> affine_param(const Tensor& t, const Shape& shape) {
  if (t.dtype() != DType::f32) return std::nullopt;
  const int64_t n = shape_numel(shape);
  if (t.numel() == 1) {
    Tensor out(DType::f32, shape);
    std::fill(out.data_mutable<float>(), out.data_mutable<float>() + n, t.data<float>()[0]);
    return out;
  }
  Shape s = t.shape();
  while (!s.empty() && s.front() == 1 && s.size() > shape.size())
    s.erase(s.begin());
  if (s != shape) return std::nullopt;
  return t.reshaped(shape);
}

// ---- LayerNorm -------------------------------------------------------------------------------

/// x - mean(x); (d*d or d^2); mean; + eps; sqrt; d / s (or d * reciprocal(s)); * gamma; + beta,
/// anchored at the Sub.
class LayerNormRule : public RewriteRule {
public:
  std::string name() const override { return "layernorm"; }

  bool match_and_rewrite(Node& sub, Graph& graph) override {
    if (sub.op() != "Sub") return false;
    Value* x = sub.input(0);
    Node* mean = producer_op(sub.input(1), "ReduceMean");
    if (!mean || mean->input(0) != x || single_user(sub.input(1)) != &sub || !is_f32(x))
      return false;
    std::vector<int64_t> axes;
    if (!reduce_axes(*mean, axes) || mean->attr_int("keepdims", 1) != 1) return false;
    const TensorType& xt = x->type();
    if (!xt.ranked()) return false;
    const int rank = xt.rank();
    const int64_t axis = trailing_axis(axes, rank);
    if (axis < 0) return false;
    Shape normalized;
    for (int64_t a = axis; a < rank; ++a) {
      const Dim& d = (*xt.dims)[static_cast<size_t>(a)];
      if (!d.is_known()) return false;
      normalized.push_back(d.value);
    }

    // The users of d: the square and the normalisation, nothing else.
    Value* d = sub.output(0);
    if (graph.is_output(d)) return false;
    Node* square = nullptr;
    Node* norm = nullptr;
    for (const Use& u : d->uses()) {
      Node* n = u.node;
      if (n == square || n == norm) continue;
      if ((n->op() == "Pow" && n->input(0) == d && is_scalar_constant(n->input(1), 2.0)) ||
          (n->op() == "Mul" && n->input(0) == d && n->input(1) == d)) {
        if (square) return false;
        square = n;
      } else if ((n->op() == "Div" && n->input(0) == d) ||
                 (n->op() == "Mul" && (n->input(0) == d) != (n->input(1) == d))) {
        if (norm) return false;
        norm = n;
      } else {
        return false;
      }
    }
    if (!square || !norm) return false;

    Node* var = single_user(square->output(0));
    std::vector<int64_t> var_axes;
    if (!var || var->op() != "ReduceMean" || !reduce_axes(*var, var_axes) ||
        trailing_axis(var_axes, rank) != axis || var->attr_int("keepdims", 1) != 1)
      return false;
    Node* add_eps = single_user(var->output(0));
    if (!add_eps || add_eps->op() != "Add") return false;
    Value* eps_value = other_operand(add_eps, var->output(0));
    double eps = 0;
    if (!eps_value || !scalar_constant(eps_value, &eps) || eps < 0) return false;
    Node* sqrt = single_user(add_eps->output(0));
    if (!sqrt || sqrt->op() != "Sqrt") return false;
    std::vector<Node*> pattern = {mean, &sub, square, var, add_eps, sqrt};
    if (norm->op() == "Div") {
      if (norm->input(1) != sqrt->output(0) || single_user(sqrt->output(0)) != norm) return false;
    } else {
      Node* recip = single_user(sqrt->output(0));
      if (!recip || recip->op() != "Reciprocal" || single_user(recip->output(0)) != norm ||
          other_operand(norm, d) != recip->output(0))
        return false;
      pattern.push_back(recip);
    }
    pattern.push_back(norm);

    // The optional affine part: * gamma, then + beta, both constant.
    Node* last = norm;
    std::optional<Tensor> gamma, beta;
    Value* gamma_source = nullptr;
    Value* beta_source = nullptr;
    if (Node* mul = single_user(last->output(0)); mul && mul->op() == "Mul") {
      Value* g = other_operand(mul, last->output(0));
      if (const Tensor* t = constant_value(g); t && (gamma = affine_param(*t, normalized))) {
        gamma_source = g;
        pattern.push_back(mul);
        last = mul;
      }
    }
    if (Node* add = single_user(last->output(0)); add && add->op() == "Add") {
      Value* b = other_operand(add, last->output(0));
      if (const Tensor* t = constant_value(b); t && (beta = affine_param(*t, normalized))) {
        beta_source = b;
        pattern.push_back(add);
        last = add;
      }
    }
    if (!gamma) {
      Tensor ones(DType::f32, normalized);
      std::fill(ones.data_mutable<float>(), ones.data_mutable<float>() + ones.numel(), 1.0f);
      gamma = ones;
    }

    const std::string base = last->output(0)->name();
    std::vector<Value*> inputs = {x, constant_input(graph, *gamma, gamma_source, base + "_scale")};
    if (beta) inputs.push_back(constant_input(graph, *beta, beta_source, base + "_bias"));
    Attributes attrs = {{"axis", axis}, {"epsilon", static_cast<float>(eps)}};
    Node* fused = graph.add_node("LayerNormalization", inputs, 1, attrs, "", last);
    commit(graph, fused, last->output(0), pattern);
    return true;
  }

private:
  /// The initializer for a scale or bias: `source` itself when it is an initializer of the
  /// right shape already, a new initializer otherwise.
  static Value* constant_input(Graph& graph, const Tensor& t, Value* source,
                               const std::string& name) {
    if (source && source->is_initializer() && source->initializer().shape() == t.shape())
      return source;
    return graph.add_initializer(graph.fresh_name(name), t);
  }
};

// ---- GELU ------------------------------------------------------------------------------------

/// x * 0.5 * (1 + erf(x / sqrt(2))), anchored at the Erf.
class GeluErfRule : public RewriteRule {
public:
  std::string name() const override { return "gelu"; }

  bool match_and_rewrite(Node& erf, Graph& graph) override {
    if (erf.op() != "Erf") return false;
    Node* scale = erf.input(0) ? erf.input(0)->producer() : nullptr;
    if (!scale || single_user(erf.input(0)) != &erf) return false;
    Value* x = nullptr;
    if (scale->op() == "Div" && is_scalar_constant(scale->input(1), std::sqrt(2.0), 1e-4))
      x = scale->input(0);
    else if (scale->op() == "Mul")
      x = operand_beside_scalar(scale, 1.0 / std::sqrt(2.0));
    if (!x || !is_f32(x)) return false;
    Node* add = single_user(erf.output(0));
    if (!add || add->op() != "Add" || operand_beside_scalar(add, 1.0) != erf.output(0))
      return false;
    std::vector<Node*> pattern = {scale, &erf, add};
    Node* last = nullptr;
    if (!match_half_product(x, add->output(0), pattern, &last)) return false;
    Node* fused = graph.add_node("Gelu", {x}, 1, {}, "", last);
    commit(graph, fused, last->output(0), pattern);
    return true;
  }
};

/// x * 0.5 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))), anchored at the Tanh.
class GeluTanhRule : public RewriteRule {
public:
  std::string name() const override { return "gelu-tanh"; }

  bool match_and_rewrite(Node& tanh, Graph& graph) override {
    if (tanh.op() != "Tanh") return false;
    Node* scale = producer_op(tanh.input(0), "Mul");
    if (!scale || single_user(tanh.input(0)) != &tanh) return false;
    Value* inner = operand_beside_scalar(scale, std::sqrt(2.0 / kPi));
    Node* sum = producer_op(inner, "Add");
    if (!sum || single_user(inner) != scale) return false;
    // x + 0.044715 * cube(x), either operand order.
    for (int k = 0; k < 2; ++k) {
      Value* x = sum->input(k);
      Node* cubic = producer_op(sum->input(1 - k), "Mul");
      if (!x || !cubic || !is_f32(x) || single_user(sum->input(1 - k)) != sum) continue;
      Value* cube = operand_beside_scalar(cubic, 0.044715);
      std::vector<Node*> pattern;
      if (!cube || single_user(cube) != cubic || !is_cube(cube, x, pattern)) continue;
      pattern.insert(pattern.end(), {cubic, sum, scale, &tanh});
      Node* add = single_user(tanh.output(0));
      if (!add || add->op() != "Add" || operand_beside_scalar(add, 1.0) != tanh.output(0))
        return false;
      pattern.push_back(add);
      Node* last = nullptr;
      if (!match_half_product(x, add->output(0), pattern, &last)) return false;
      Node* fused =
          graph.add_node("Gelu", {x}, 1, {{"approximate", std::string("tanh")}}, "", last);
      commit(graph, fused, last->output(0), pattern);
      return true;
    }
    return false;
  }

private:
  /// `v` is x^3: Pow(x, 3), x * (x * x) or (x * x) * x.
  static bool is_cube(Value* v, Value* x, std::vector<Node*>& nodes) {
    Node* p = v->producer();
    if (!p) return false;
    if (p->op() == "Pow" && p->input(0) == x && is_scalar_constant(p->input(1), 3.0)) {
      nodes.push_back(p);
      return true;
    }
    if (p->op() != "Mul") return false;
    Value* sq = other_operand(p, x);
    Node* sq_node = producer_op(sq, "Mul");
    if (!sq_node || sq_node->input(0) != x || sq_node->input(1) != x || single_user(sq) != p)
      return false;
    nodes.insert(nodes.end(), {sq_node, p});
    return true;
  }
};

// ---- Gemm ------------------------------------------------------------------------------------

/// MatMul(x, W) + b with x 2-D, W a constant 2-D matrix and b a constant 1-D vector, anchored at
/// the MatMul. Gemm needs a 2-D A, so higher-rank MatMuls stay.
class GemmRule : public RewriteRule {
public:
  std::string name() const override { return "gemm"; }

  bool match_and_rewrite(Node& mm, Graph& graph) override {
    if (mm.op() != "MatMul") return false;
    Value* x = mm.input(0);
    const Tensor* w = constant_value(mm.input(1));
    if (!x || !x->type().ranked() || x->type().rank() != 2 || !w || w->rank() != 2) return false;
    Node* add = single_user(mm.output(0));
    if (!add || add->op() != "Add") return false;
    Value* bias = other_operand(add, mm.output(0));
    const Tensor* b = constant_value(bias);
    if (!b || b->rank() != 1 || b->dim(0) != w->dim(1) || b->dtype() != w->dtype()) return false;
    Node* fused = graph.add_node("Gemm", {x, mm.input(1), bias}, 1, {}, "", add);
    commit(graph, fused, add->output(0), {&mm, add});
    return true;
  }
};

// ---- HardSwish -------------------------------------------------------------------------------

/// x * HardSigmoid(x) with alpha = 1/6 and beta = 0.5, anchored at the HardSigmoid.
class HardSwishRule : public RewriteRule {
public:
  std::string name() const override { return "hardswish"; }

  bool match_and_rewrite(Node& hs, Graph& graph) override {
    if (hs.op() != "HardSigmoid") return false;
    if (std::abs(hs.attr_float("alpha", 0.2f) - 1.0f / 6.0f) > 1e-5f ||
        std::abs(hs.attr_float("beta", 0.5f) - 0.5f) > 1e-6f)
      return false;
    Value* x = hs.input(0);
    Node* mul = single_user(hs.output(0));
    if (!mul || mul->op() != "Mul" || other_operand(mul, hs.output(0)) != x) return false;
    Node* fused = graph.add_node("HardSwish", {x}, 1, {}, "", mul);
    commit(graph, fused, mul->output(0), {&hs, mul});
    return true;
  }
};

} // namespace

FusePass::FusePass(const FuseOptions& options) : options_(options) {
  for (const std::string& p : options_.patterns)
    if (std::find(all_patterns().begin(), all_patterns().end(), p) == all_patterns().end()) {
      std::string hint = closest_name(p, all_patterns());
      throw RecipeError("pass 'fuse': unknown pattern '" + p + "'" +
                        (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                        "; patterns: layernorm, gelu, gelu-tanh, gemm, hardswish");
    }
}

FusePass::FusePass(const Options& options)
    : FusePass([&] {
        OptionReader reader("fuse", options);
        FuseOptions o;
        o.patterns = reader.get_list("patterns", all_patterns());
        reader.finish();
        return o;
      }()) {}

const std::vector<std::string>& FusePass::known_patterns() {
  return all_patterns();
}

const PassInfo& FusePass::info() const {
  static const PassInfo info{"fuse", kSummary, {"shapes"}, {}, {}, {}};
  return info;
}

PassResult FusePass::run(Graph& graph, PassContext& ctx) {
  auto enabled = [&](const char* p) {
    return std::find(options_.patterns.begin(), options_.patterns.end(), p) !=
           options_.patterns.end();
  };
  std::vector<std::unique_ptr<RewriteRule>> rules;
  if (enabled("layernorm")) rules.push_back(std::make_unique<LayerNormRule>());
  if (enabled("gelu")) rules.push_back(std::make_unique<GeluErfRule>());
  if (enabled("gelu-tanh")) rules.push_back(std::make_unique<GeluTanhRule>());
  if (enabled("gemm")) rules.push_back(std::make_unique<GemmRule>());
  if (enabled("hardswish")) rules.push_back(std::make_unique<HardSwishRule>());
  PassResult result;
  for (const auto& r : rules)
    result.stats[r->name()] = 0;
  result.changed = apply_rules_to_fixpoint(graph, rules, &result.stats);
  return result;
}

SHRINK_REGISTER_PASS(register_fuse_pass, FusePass, "fuse", kSummary);

} // namespace shrink
