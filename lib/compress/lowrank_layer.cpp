// The matrix view of Gemm, MatMul and Conv layers, and their replacement by two factors.
#include "lowrank_internal.h"

#include "shrink/core/error.h"
#include "shrink/ir/op_table.h"

#include <algorithm>
#include <tuple>

namespace shrink::lowrank_detail {

namespace {

using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// The known size of dimension `i` of `v`'s type, or -1.
int64_t known_dim(const Value* v, int i) {
  if (!v || !v->type().ranked()) return -1;
  const auto& dims = *v->type().dims;
  if (i < 0) i += static_cast<int>(dims.size());
  if (i < 0 || i >= static_cast<int>(dims.size())) return -1;
  return dims[static_cast<size_t>(i)].value;
}

/// `m` written row-major into a new f32 tensor of `shape`.
Tensor to_tensor(const MatrixF& m, const Shape& shape) {
  Tensor t(DType::f32, shape);
  Eigen::Map<RowMajorF>(t.data_mutable<float>(), m.rows(), m.cols()) = m;
  return t;
}

/// SAME_UPPER / SAME_LOWER pads (begin, end) for one axis, as ONNX defines them.
std::pair<int64_t, int64_t> same_pads(int64_t in, int64_t k, int64_t s, int64_t d, bool upper) {
  const int64_t out = (in + s - 1) / s;
  const int64_t total = std::max<int64_t>(0, (out - 1) * s + (k - 1) * d + 1 - in);
  const int64_t small = total / 2, large = total - small;
  return upper ? std::make_pair(small, large) : std::make_pair(large, small);
}

bool analyze_conv(Node& node, const Tensor& w, const std::string& conv_mode, LayerPlan& p) {
  LowRankLayer& rec = p.record;
  if (conv_mode == "none") {
    rec.reason = "convolutions are left alone (conv=none)";
    return true;
  }
  if (w.rank() != 3 && w.rank() != 4) {
    rec.reason = "only 1-D and 2-D convolutions are factorized";
    return true;
  }
  const int64_t group = node.attr_int("group", 1);
  if (group != 1) {
    rec.reason = w.dim(1) == 1 ? "depthwise convolution (group=" + std::to_string(group) + ")"
                               : "grouped convolution (group=" + std::to_string(group) + ")";
    return true;
  }
  const bool one_d = w.rank() == 3;
  p.cout = w.dim(0);
  p.cin = w.dim(1);
  p.kh = one_d ? 1 : w.dim(2);
  p.kw = one_d ? w.dim(2) : w.dim(3);
  PatchGeometry& g = p.patches;
  g.conv = true;
  g.one_d = one_d;
  g.channels = p.cin;
  g.kh = p.kh;
  g.kw = p.kw;
  const std::vector<int64_t> strides = node.attr_ints("strides");
  const std::vector<int64_t> dilations = node.attr_ints("dilations");
  const std::vector<int64_t> pads = node.attr_ints("pads");
  const size_t nd = one_d ? 1 : 2;
  if ((!strides.empty() && strides.size() != nd) ||
      (!dilations.empty() && dilations.size() != nd) || (!pads.empty() && pads.size() != 2 * nd)) {
    rec.reason = "strides, dilations or pads do not match the kernel's rank";
    return true;
  }
  auto at = [](const std::vector<int64_t>& v, size_t i, int64_t def) {
    return v.empty() ? def : v[i];
  };
  if (one_d) {
    g.sw = at(strides, 0, 1);
    g.dw = at(dilations, 0, 1);
    g.pl = at(pads, 0, 0);
    g.pr = at(pads, 1, 0);
  } else {
    g.sh = at(strides, 0, 1);
    g.sw = at(strides, 1, 1);
    g.dh = at(dilations, 0, 1);
    g.dw = at(dilations, 1, 1);
    g.pt = at(pads, 0, 0);
    g.pl = at(pads, 1, 0);
    g.pb = at(pads, 2, 0);
    g.pr = at(pads, 3, 0);
  }
  const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  if (auto_pad == "VALID") {
    g.pt = g.pl = g.pb = g.pr = 0;
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    g.auto_pad = auto_pad;
  } else if (auto_pad != "NOTSET") {
    rec.reason = "unknown auto_pad '" + auto_pad + "'";
    return true;
  }
  const Value* x = node.input(0);
  const int64_t in_h = one_d ? 1 : known_dim(x, 2);
  const int64_t in_w = known_dim(x, one_d ? 2 : 3);
  const int64_t out_h = one_d ? 1 : known_dim(node.output(0), 2);
  const int64_t out_w = known_dim(node.output(0), one_d ? 2 : 3);
  const bool spatial = conv_mode == "spatial" && !one_d;
  if (spatial && !g.auto_pad.empty()) {
    // The two 1-D convolutions need explicit pads, which SAME_* only gives with a known size.
    if (in_h < 0 || in_w < 0) {
      rec.reason = "auto_pad=" + g.auto_pad + " with an unknown input size (spatial mode)";
      return true;
    }
    const bool upper = g.auto_pad == "SAME_UPPER";
    std::tie(g.pt, g.pb) = same_pads(in_h, g.kh, g.sh, g.dh, upper);
    std::tie(g.pl, g.pr) = same_pads(in_w, g.kw, g.sw, g.dw, upper);
    g.auto_pad.clear();
  }
  p.flops_known = out_h > 0 && out_w > 0 && (!spatial || in_w > 0);
  const double positions = static_cast<double>(std::max<int64_t>(out_h, 1)) *
                           static_cast<double>(std::max<int64_t>(out_w, 1));
  if (spatial) {
    p.form = Form::conv_spatial;
    p.rows = p.cout * p.kw;
    p.cols = p.cin * p.kh;
    // The vertical conv keeps the full input width (stride 1, no pads across it).
    const double mid = static_cast<double>(std::max<int64_t>(out_h, 1)) *
                       static_cast<double>(std::max<int64_t>(in_w, 1));
    p.flops_per_rank =
        mid * static_cast<double>(p.cin * p.kh) + positions * static_cast<double>(p.cout * p.kw);
  } else {
    p.form = Form::conv_channel;
    p.rows = p.cout;
    p.cols = p.cin * p.kh * p.kw;
    p.flops_per_rank = positions * static_cast<double>(p.cols + p.rows);
  }
  p.flops_full = positions * static_cast<double>(p.cout * p.cin * p.kh * p.kw);
  return true;
}

} // namespace

const char* form_name(Form form) {
  switch (form) {
  case Form::gemm:
  case Form::matmul:
    return "matrix";
  case Form::conv_channel:
    return "conv-channel";
  case Form::conv_spatial:
    return "conv-spatial";
  }
  return "";
}

std::string PatchGeometry::key(const std::string& value) const {
  std::string k =
      value + (conv ? "|conv" : "|matrix") + (trans_a ? "|t" : "") + "|" + std::to_string(channels);
  if (conv)
    for (int64_t v : {kh, kw, sh, sw, dh, dw, pt, pl, pb, pr})
      k += "," + std::to_string(v);
  return k + "|" + auto_pad;
}

bool analyze_layer(Node& node, const std::string& conv_mode, LayerPlan& p) {
  const std::string& op = node.op();
  if (op != "Gemm" && op != "MatMul" && op != "Conv") return false;
  Value* weight = node.input(1);
  const Tensor* w = weight ? constant_value(weight) : nullptr;
  // Without a constant weight the node is not a layer (e.g. an attention MatMul).
  if (!w) return false;
  p.node = &node;
  p.weight = weight;
  LowRankLayer& rec = p.record;
  rec.node = node.name();
  rec.op = op;
  rec.params_before = rec.params_after = w->numel();
  if (w->dtype() != DType::f32 || w->quant()) {
    rec.reason = std::string("the weight is ") + dtype_name(w->dtype()) +
                 (w->quant() ? " (quantized)" : "") + ", not f32";
    return true;
  }
  if (!node.input(0) || constant_value(node.input(0))) {
    rec.reason = "every input is constant (const-fold folds it)";
    return true;
  }
  if (weight->uses().size() > 1 || node.graph().is_output(weight)) {
    for (const Use& u : weight->uses())
      if (u.node != &node) {
        rec.reason =
            "the weight '" + weight->name() + "' is shared with node '" + u.node->name() + "'";
        return true;
      }
    rec.reason = "the weight '" + weight->name() + "' is used more than once";
    return true;
  }
  if (op == "Gemm") {
    if (w->rank() != 2) {
      rec.reason = "the weight is not 2-D";
      return true;
    }
    p.form = Form::gemm;
    p.trans_b = node.attr_int("transB", 0) != 0;
    p.rows = p.trans_b ? w->dim(0) : w->dim(1);
    p.cols = p.trans_b ? w->dim(1) : w->dim(0);
    p.patches.trans_a = node.attr_int("transA", 0) != 0;
    p.patches.channels = p.cols;
    p.flops_per_rank = static_cast<double>(p.rows + p.cols);
    p.flops_full = static_cast<double>(p.rows * p.cols);
  } else if (op == "MatMul") {
    if (w->rank() != 2) {
      rec.reason = "the right operand is not a 2-D matrix";
      return true;
    }
    p.form = Form::matmul;
    p.rows = w->dim(1);
    p.cols = w->dim(0);
    p.patches.channels = p.cols;
    // Per sample, every row of the activation's middle axes is multiplied ([N, T, K]: T rows).
    double rows_per_sample = 1;
    const Value* x = node.input(0);
    if (x->type().ranked() && x->type().rank() >= 3) {
      for (int i = 1; i + 1 < x->type().rank(); ++i) {
        const int64_t d = known_dim(x, i);
        if (d < 0)
          p.flops_known = false;
        else
          rows_per_sample *= static_cast<double>(d);
      }
    }
    p.flops_per_rank = rows_per_sample * static_cast<double>(p.rows + p.cols);
    p.flops_full = rows_per_sample * static_cast<double>(p.rows * p.cols);
  } else {
    analyze_conv(node, *w, conv_mode, p);
    if (!rec.reason.empty()) return true;
  }
  p.eligible = true;
  p.full_rank = std::min(p.rows, p.cols);
  p.params_full = p.rows * p.cols;
  p.params_per_rank = p.rows + p.cols;
  rec.form = form_name(p.form);
  rec.rows = p.rows;
  rec.cols = p.cols;
  rec.full_rank = p.full_rank;
  rec.flops_before = rec.flops_after = p.flops_full;
  return true;
}

MatrixF layer_matrix(const LayerPlan& p, const Tensor& weight) {
  const float* w = weight.data<float>();
  switch (p.form) {
  case Form::gemm:
    if (p.trans_b) return Eigen::Map<const RowMajorF>(w, p.rows, p.cols);
    return Eigen::Map<const RowMajorF>(w, p.cols, p.rows).transpose();
  case Form::matmul:
    return Eigen::Map<const RowMajorF>(w, p.cols, p.rows).transpose();
  case Form::conv_channel:
    return Eigen::Map<const RowMajorF>(w, p.rows, p.cols);
  case Form::conv_spatial: {
    // Rows (co, x), columns (ci, y): W[co, ci, y, x].
    MatrixF m(p.rows, p.cols);
    for (int64_t co = 0; co < p.cout; ++co)
      for (int64_t ci = 0; ci < p.cin; ++ci)
        for (int64_t y = 0; y < p.kh; ++y)
          for (int64_t x = 0; x < p.kw; ++x)
            m(co * p.kw + x, ci * p.kh + y) = w[((co * p.cin + ci) * p.kh + y) * p.kw + x];
    return m;
  }
  }
  throw Error("lowrank: unknown layer form");
}

void rewrite_layer(Graph& graph, LayerPlan& p, const MatrixF& first, const MatrixF& second) {
  Node* node = p.node;
  const int64_t r = first.rows();
  const std::string node_name = node->name();
  Value* out = node->output(0);
  const std::string out_name = out->name();
  const std::string wname = p.weight->name();
  Value* x = node->input(0);
  Value* bias = node->input(2);

  Tensor t1, t2;
  Attributes a1, a2;
  const Attributes& attrs = node->attrs();
  switch (p.form) {
  case Form::gemm:
    if (p.trans_b) {
      t1 = to_tensor(first, {r, p.cols});
      t2 = to_tensor(second, {p.rows, r});
    } else {
      t1 = to_tensor(first.transpose(), {p.cols, r});
      t2 = to_tensor(second.transpose(), {r, p.rows});
    }
    // alpha scales A*B and transA reads A: both belong to the first product. C and beta are
    // added after the second.
    a1 = attrs;
    a1.erase("beta");
    if (attrs.count("transB")) a2["transB"] = attrs.at("transB");
    if (bias && attrs.count("beta")) a2["beta"] = attrs.at("beta");
    break;
  case Form::matmul:
    t1 = to_tensor(first.transpose(), {p.cols, r});
    t2 = to_tensor(second.transpose(), {r, p.rows});
    break;
  case Form::conv_channel: {
    const bool one_d = p.patches.one_d;
    t1 = to_tensor(first, one_d ? Shape{r, p.cin, p.kw} : Shape{r, p.cin, p.kh, p.kw});
    t2 = to_tensor(second, one_d ? Shape{p.cout, r, 1} : Shape{p.cout, r, 1, 1});
    a1 = attrs;
    if (attrs.count("kernel_shape"))
      a2["kernel_shape"] = one_d ? std::vector<int64_t>{1} : std::vector<int64_t>{1, 1};
    break;
  }
  case Form::conv_spatial: {
    t1 = to_tensor(first, {r, p.cin, p.kh, 1});
    t2 = Tensor(DType::f32, {p.cout, r, 1, p.kw});
    float* d = t2.data_mutable<float>();
    for (int64_t co = 0; co < p.cout; ++co)
      for (int64_t j = 0; j < r; ++j)
        for (int64_t xx = 0; xx < p.kw; ++xx)
          d[(co * r + j) * p.kw + xx] = second(co * p.kw + xx, j);
    const PatchGeometry& g = p.patches;
    auto set_if = [](Attributes& a, const char* key, std::vector<int64_t> v, int64_t def) {
      if (std::any_of(v.begin(), v.end(), [def](int64_t e) { return e != def; })) a[key] = v;
    };
    if (attrs.count("kernel_shape")) {
      a1["kernel_shape"] = std::vector<int64_t>{p.kh, 1};
      a2["kernel_shape"] = std::vector<int64_t>{1, p.kw};
    }
    set_if(a1, "strides", {g.sh, 1}, 1);
    set_if(a1, "dilations", {g.dh, 1}, 1);
    set_if(a1, "pads", {g.pt, 0, g.pb, 0}, 0);
    set_if(a2, "strides", {1, g.sw}, 1);
    set_if(a2, "dilations", {1, g.dw}, 1);
    set_if(a2, "pads", {0, g.pl, 0, g.pr}, 0);
    break;
  }
  }

  Value* w1 = graph.add_initializer(graph.fresh_name(wname + "_lr1"), std::move(t1));
  Value* w2 = graph.add_initializer(graph.fresh_name(wname + "_lr2"), std::move(t2));
  const std::string& op = node->op();
  Node* n1 = graph.add_node(op, {x, w1}, 1, a1, graph.fresh_name(out_name + "_lr"), node);
  std::vector<Value*> in2 = {n1->output(0), w2};
  if (bias) in2.push_back(bias);
  Node* n2 = graph.add_node(op, in2, 1, a2, graph.fresh_name(node_name + "_lr_out"), node);
  n1->output(0)->set_type(infer_node_types(*n1).at(0));
  n2->output(0)->set_type(infer_node_types(*n2).at(0));

  graph.replace_all_uses(out, n2->output(0));
  graph.erase(node);
  // The second layer takes over the names users and downstream passes know.
  if (!graph.find_value(out_name)) graph.rename(n2->output(0), out_name);
  if (!graph.find_node(node_name)) graph.rename(n2, node_name);
  Value* old_weight = p.weight;
  p.node = n2;
  p.weight = nullptr;
  if (old_weight->uses().empty() && !graph.is_output(old_weight)) {
    if (old_weight->is_initializer()) {
      graph.erase_value(old_weight);
    } else if (Node* producer = old_weight->producer(); producer && producer->op() == "Constant") {
      graph.erase(producer);
    }
  }
}

} // namespace shrink::lowrank_detail
