#include "shrink/ir/stats.h"

#include <cstdio>

namespace shrink {

namespace {
// A symbolic dimension's size: its bound value, or 1.
int64_t symbol_size(const Dim& d, const SymbolSizes& sizes) {
  auto it = sizes.find(d.symbol);
  return it == sizes.end() ? 1 : it->second;
}

// Element count with symbolic dimensions at their bound size (1 when unbound); -1 when the rank
// or a dimension is unknown.
int64_t elements_per_sample(const Value* v, const SymbolSizes& sizes) {
  if (!v || !v->type().ranked()) return -1;
  int64_t n = 1;
  for (const Dim& d : *v->type().dims) {
    if (d.is_known())
      n *= d.value;
    else if (d.is_symbolic())
      n *= symbol_size(d, sizes);
    else
      return -1;
  }
  return n;
}

int64_t dim_or(const Value* v, int i, int64_t def, const SymbolSizes& sizes) {
  if (!v || !v->type().ranked()) return def;
  int r = v->type().rank();
  int j = i < 0 ? i + r : i;
  if (j < 0 || j >= r) return def;
  const Dim& d = (*v->type().dims)[j];
  return d.is_known() ? d.value : (d.is_symbolic() ? symbol_size(d, sizes) : def);
}
} // namespace

int64_t node_flops(const Node& node, const SymbolSizes& sizes) {
  const std::string& op = node.op();
  const Value* out = node.num_outputs() ? node.output(0) : nullptr;
  int64_t out_elems = elements_per_sample(out, sizes);
  if (op == "Conv" || op == "ConvTranspose") {
    const Value* w = node.input(1);
    int64_t w_elems = elements_per_sample(w, sizes);
    if (w_elems < 0) return -1;
    if (op == "Conv") {
      if (out_elems < 0) return -1;
      // Each output element is a dot product over Cin/group * kernel: the weight's per-filter size.
      int64_t per_filter = w_elems / std::max<int64_t>(1, dim_or(w, 0, 1, sizes));
      return 2 * out_elems * per_filter;
    }
    int64_t in_elems = elements_per_sample(node.input(0), sizes);
    if (in_elems < 0) return -1;
    // ConvTranspose weights are [Cin, Cout/group, k...]: each input element feeds Cout/group*k.
    return 2 * in_elems * (w_elems / std::max<int64_t>(1, dim_or(w, 0, 1, sizes)));
  }
  if (op == "Gemm" || op == "MatMul") {
    const Value* a = node.input(0);
    if (out_elems < 0 || !a || !a->type().ranked()) return -1;
    int64_t k = op == "Gemm" && node.attr_int("transA", 0) ? dim_or(a, 0, -1, sizes)
                                                           : dim_or(a, -1, -1, sizes);
    if (k < 0) return -1;
    return 2 * out_elems * k;
  }
  // Ops that only move or select elements do no arithmetic.
  if (op == "Constant" || op == "Shape" || op == "Reshape" || op == "Identity" || op == "Flatten" ||
      op == "Squeeze" || op == "Unsqueeze" || op == "Dropout" || op == "Slice" || op == "Gather" ||
      op == "Transpose" || op == "Concat" || op == "Split" || op == "Expand" || op == "Pad" ||
      op == "Tile")
    return 0;
  if (op == "Softmax" || op == "LayerNormalization" || op == "BatchNormalization" || op == "Gelu" ||
      op == "LogSoftmax")
    return out_elems < 0 ? -1 : 5 * out_elems;
  if (op == "GlobalAveragePool" || op == "ReduceMean" || op == "ReduceSum") {
    int64_t in = elements_per_sample(node.input(0), sizes);
    return in < 0 ? -1 : in;
  }
  return out_elems < 0 ? -1 : out_elems;
}

GraphStats graph_stats(const Graph& graph, const SymbolSizes& sizes) {
  GraphStats s;
  s.nodes = static_cast<int64_t>(graph.num_nodes());
  s.parameters = graph.num_parameters();
  s.parameter_bytes = graph.parameter_bytes();
  for (const Node* n : graph.nodes()) {
    ++s.ops[n->op()];
    int64_t f = node_flops(*n, sizes);
    if (f < 0)
      s.complete = false;
    else
      s.flops += f;
  }
  return s;
}

std::string human_count(double n) {
  char buf[32];
  if (n >= 1e9)
    std::snprintf(buf, sizeof buf, "%.2fG", n / 1e9);
  else if (n >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
  else if (n >= 1e3)
    std::snprintf(buf, sizeof buf, "%.1fK", n / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f", n);
  return buf;
}

std::string human_bytes(double b) {
  char buf[32];
  if (b >= 1024.0 * 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  else if (b >= 1024.0 * 1024)
    std::snprintf(buf, sizeof buf, "%.2f MiB", b / (1024.0 * 1024));
  else if (b >= 1024.0)
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  else
    std::snprintf(buf, sizeof buf, "%.0f B", b);
  return buf;
}

} // namespace shrink
