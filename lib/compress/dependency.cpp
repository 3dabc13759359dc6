#include "shrink/compress/dependency.h"

#include "shrink/core/error.h"

#include <algorithm>
#include <deque>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>

namespace shrink {

namespace {

std::string node_desc(const Node& n) {
  return "node '" + n.name() + "' (" + n.op() + ")";
}

int rank_of(const Value* v) {
  return v && v->type().ranked() ? v->type().rank() : -1;
}

/// The known size of axis `axis` of `v`, or -1.
int64_t size_of(const Value* v, int axis) {
  if (!v || !v->type().ranked() || axis < 0 || axis >= v->type().rank()) return -1;
  const Dim& d = (*v->type().dims)[static_cast<size_t>(axis)];
  return d.is_known() ? d.value : -1;
}

/// The elements of an integer constant, or nullopt when `v` is not one.
std::optional<std::vector<int64_t>> const_ints(const Value* v) {
  const Tensor* t = v ? constant_value(v) : nullptr;
  if (!t || !(t->dtype() == DType::i64 || t->dtype() == DType::i32)) return std::nullopt;
  std::vector<int64_t> out;
  for (int64_t i = 0; i < t->numel(); ++i)
    out.push_back(static_cast<int64_t>(t->at(i)));
  return out;
}

/// An integer list given as input `index` (newer opsets) or attribute `attr` (older ones).
/// `present` is false when neither is given; the result is nullopt when the input is computed.
std::optional<std::vector<int64_t>> int_operand(const Node& n, int index, const std::string& attr,
                                                bool* present) {
  if (n.input(index)) {
    *present = true;
    return const_ints(n.input(index));
  }
  if (n.has_attr(attr)) {
    *present = true;
    return n.attr_ints(attr);
  }
  *present = false;
  return std::vector<int64_t>{};
}

int normalize(int64_t axis, int rank) {
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

/// A product of dimensions: known factors multiplied, symbols kept by name. Unknown dimensions
/// make it invalid.
struct DimProduct {
  int64_t known = 1;
  std::vector<std::string> symbols;
  bool valid = true;
  bool operator==(const DimProduct& o) const {
    return valid && o.valid && known == o.known && symbols == o.symbols;
  }
};

DimProduct product(const std::vector<Dim>& dims, size_t begin, size_t end) {
  DimProduct p;
  for (size_t i = begin; i < end; ++i) {
    const Dim& d = dims[i];
    if (d.is_known())
      p.known *= d.value;
    else if (d.is_symbolic())
      p.symbols.push_back(d.symbol);
    else
      p.valid = false;
  }
  std::sort(p.symbols.begin(), p.symbols.end());
  return p;
}

/// Which end of a node a dimension sits on.
struct Port {
  bool output = false;
  int index = 0;
};

/// "Blocks of `self_block` elements of this dimension, starting at `self_offset`, live or die
/// with blocks of `other_block` elements of `value`'s axis `axis`, starting at `other_offset`;
/// `count` blocks". Identity is blocks of 1 and 1.
struct Relation {
  const Value* value = nullptr;
  int axis = 0;
  int64_t self_offset = 0;
  int64_t self_block = 1;
  int64_t other_offset = 0;
  int64_t other_block = 1;
  int64_t count = 0;
};

Relation identity(const Value* v, int axis, int64_t size) {
  return {v, axis, 0, 1, 0, 1, size};
}

/// Flags a rule sets on the dimension it relates: used to tell attention heads from channels.
struct RuleFlags {
  bool head_split = false;     ///< A Reshape split this dimension into blocks (heads).
  bool batched_matmul = false; ///< The dimension is a batch axis of a MatMul of activations.
};

/// The result of applying a node's channel rule to one of its dimensions.
struct RuleResult {
  std::vector<Relation> relations;
  std::string blocker; ///< Non-empty: the node cannot carry this dimension.
  RuleFlags flags;
};

const std::set<std::string>& unary_ops() {
  static const std::set<std::string> ops = {
      "Abs",   "Cast",       "Ceil",        "Clip",      "Cos",      "Dropout",   "Erf", "Exp",
      "Floor", "Gelu",       "HardSigmoid", "HardSwish", "Identity", "LeakyRelu", "Log", "Neg",
      "Not",   "Reciprocal", "Relu",        "Sigmoid",   "Sin",      "Sqrt",      "Tanh"};
  return ops;
}

const std::set<std::string>& broadcast_ops() {
  static const std::set<std::string> ops = {"Add",  "And", "Div", "Equal", "Greater",
                                            "Less", "Max", "Min", "Mul",   "Or",
                                            "Pow",  "Sub", "Sum", "Where"};
  return ops;
}

/// Channel rules, one per op family. Each takes the port and axis of a tracked dimension and
/// says which dimensions of the node's other ports are coupled with it.
class Rules {
public:
  static RuleResult apply(const Node& n, Port port, int axis, int64_t size) {
    RuleResult r;
    const std::string& op = n.op();
    if (unary_ops().count(op))
      unary(n, port, axis, size, r);
    else if (broadcast_ops().count(op))
      broadcast(n, port, axis, size, r);
    else if (op == "Softmax" || op == "LogSoftmax")
      softmax(n, port, axis, size, r);
    else if (op == "ReduceMean" || op == "ReduceSum" || op == "ReduceMax" || op == "ReduceMin" ||
             op == "ArgMax")
      reduce(n, port, axis, size, r);
    else if (op == "BatchNormalization")
      batchnorm(n, port, axis, size, r);
    else if (op == "LayerNormalization")
      layernorm(n, port, axis, size, r);
    else if (op == "Conv")
      conv(n, port, axis, size, r);
    else if (op == "ConvTranspose")
      conv_transpose(n, port, axis, size, r);
    else if (op == "Gemm")
      gemm(n, port, axis, size, r);
    else if (op == "MatMul")
      matmul(n, port, axis, size, r);
    else if (op == "Concat")
      concat(n, port, axis, size, r);
    else if (op == "Split")
      split(n, port, axis, size, r);
    else if (op == "Slice")
      slice(n, port, axis, size, r);
    else if (op == "Transpose")
      transpose(n, port, axis, size, r);
    else if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze")
      reshape(n, port, axis, size, r);
    else if (op == "GlobalAveragePool" || op == "AveragePool" || op == "MaxPool")
      pool(n, port, axis, size, r);
    else if (op == "Pad")
      pad(n, port, axis, size, r);
    else if (op == "Resize")
      resize(n, port, axis, size, r);
    else if (op == "Gather")
      gather(n, port, axis, size, r);
    else if (op == "QuantizeLinear" || op == "DequantizeLinear")
      qdq(n, port, axis, size, r);
    else if (op == "Tile" || op == "Expand")
      tile_expand(n, port, axis, size, r);
    else if (op == "Trilu")
      trilu(n, port, axis, size, r);
    else if (op == "Shape") {
      // Shape only reads the (new) size at run time; nothing to couple or rewrite.
    } else {
      r.blocker = node_desc(n) + " has no channel rule (shrink does not know how it maps "
                                 "channels)";
    }
    return r;
  }

private:
  static std::string where(const Node& n, Port p, int axis) {
    const Value* v = p.output ? n.output(p.index) : n.input(p.index);
    return "axis " + std::to_string(axis) + " of '" + (v ? v->name() : "?") + "'";
  }

  static void block(RuleResult& r, const Node& n, Port p, int axis, const std::string& why) {
    r.blocker = node_desc(n) + " " + why + " (" + where(n, p, axis) + ")";
  }

  static void unary(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    if (!p.output && p.index != 0) return block(r, n, p, axis, "takes it as a scalar operand");
    if (p.output) r.relations.push_back(identity(n.input(0), axis, size));
    for (int i = 0; i < n.num_outputs(); ++i)
      if (!(p.output && p.index == i) && rank_of(n.output(i)) == rank_of(n.output(0)))
        r.relations.push_back(identity(n.output(i), axis, size));
  }

  static void broadcast(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    const Value* out = n.output(0);
    const int out_rank = rank_of(out);
    const Value* self = p.output ? out : n.input(p.index);
    const int self_rank = rank_of(self);
    if (out_rank < 0 || self_rank < 0) return block(r, n, p, axis, "has an unranked operand");
    const int oa = axis + (out_rank - self_rank);
    const int64_t out_size = size_of(out, oa);
    if (out_size != size) return block(r, n, p, axis, "broadcasts it to a larger size");
    if (!p.output) r.relations.push_back(identity(out, oa, size));
    for (int i = 0; i < n.num_inputs(); ++i) {
      const Value* in = n.input(i);
      if (!in || (!p.output && p.index == i)) continue;
      const int ir = rank_of(in);
      if (ir < 0) return block(r, n, p, axis, "has an unranked operand");
      const int ia = oa - (out_rank - ir);
      if (ia < 0) continue;
      const int64_t s = size_of(in, ia);
      if (s == 1 && size != 1) continue; // broadcast along the channels: nothing to slice
      if (s != size) return block(r, n, p, axis, "has an operand of unknown size on that axis");
      r.relations.push_back(identity(in, ia, size));
    }
  }

  static void softmax(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    const int sa = normalize(n.attr_int("axis", -1), rank_of(n.input(0)));
    if (sa == axis) return block(r, n, p, axis, "normalizes over the channels");
    r.relations.push_back(identity(p.output ? n.input(0) : n.output(0), axis, size));
  }

  static void reduce(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    if (!p.output && p.index != 0) return block(r, n, p, axis, "takes it as its axes operand");
    const int in_rank = rank_of(n.input(0));
    std::vector<int64_t> axes;
    const bool keepdims = n.attr_int("keepdims", 1) != 0;
    if (n.op() == "ArgMax") {
      axes = {n.attr_int("axis", 0)};
    } else {
      bool present = false;
      std::optional<std::vector<int64_t>> a = int_operand(n, 1, "axes", &present);
      if (!a) return block(r, n, p, axis, "reduces over axes computed at run time");
      axes = *a;
      if (axes.empty()) {
        if (n.attr_int("noop_with_empty_axes", 0) != 0) {
          r.relations.push_back(identity(p.output ? n.input(0) : n.output(0), axis, size));
          return;
        }
        for (int i = 0; i < in_rank; ++i)
          axes.push_back(i);
      }
    }
    std::vector<bool> reduced(static_cast<size_t>(std::max(in_rank, 0)), false);
    for (int64_t a : axes) {
      const int k = normalize(a, in_rank);
      if (k >= 0 && k < in_rank) reduced[static_cast<size_t>(k)] = true;
    }
    // Map input axis -> output axis.
    std::vector<int> to_out(reduced.size(), -1);
    int next = 0;
    for (int i = 0; i < in_rank; ++i) {
      if (keepdims)
        to_out[static_cast<size_t>(i)] = reduced[static_cast<size_t>(i)] ? -1 : i;
      else if (!reduced[static_cast<size_t>(i)])
        to_out[static_cast<size_t>(i)] = next++;
      if (keepdims && !reduced[static_cast<size_t>(i)]) ++next;
    }
    if (!p.output) {
      if (axis >= in_rank || reduced[static_cast<size_t>(axis)])
        return block(r, n, p, axis, "reduces over the channels");
      r.relations.push_back(identity(n.output(0), to_out[static_cast<size_t>(axis)], size));
      return;
    }
    for (int i = 0; i < in_rank; ++i)
      if (to_out[static_cast<size_t>(i)] == axis) {
        r.relations.push_back(identity(n.input(0), i, size));
        return;
      }
    block(r, n, p, axis, "produces it by a reduction");
  }

  static void batchnorm(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    if (n.attr_int("training_mode", 0) != 0) return block(r, n, p, axis, "is in training mode");
    if (p.output && p.index != 0) return block(r, n, p, axis, "produces running statistics");
    const bool param = !p.output && p.index >= 1;
    const int data_axis = param ? 1 : axis;
    if (p.output || param) r.relations.push_back(identity(n.input(0), data_axis, size));
    if (!p.output) r.relations.push_back(identity(n.output(0), data_axis, size));
    if (data_axis != 1) return;
    for (int i = 1; i < n.num_inputs(); ++i)
      if (n.input(i) && !(param && p.index == i))
        r.relations.push_back(identity(n.input(i), 0, size));
  }

  static void layernorm(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    const int in_rank = rank_of(n.input(0));
    const int la = normalize(n.attr_int("axis", -1), in_rank);
    if (!p.output && p.index != 0)
      return block(r, n, p, axis, "normalizes over the channels of its scale and bias");
    if (axis >= la) return block(r, n, p, axis, "normalizes over the channels");
    if (p.output) r.relations.push_back(identity(n.input(0), axis, size));
    for (int i = 0; i < n.num_outputs(); ++i)
      if (!(p.output && p.index == i)) r.relations.push_back(identity(n.output(i), axis, size));
  }

  static void conv(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    const Value* x = n.input(0);
    const Value* w = n.input(1);
    const Value* b = n.input(2);
    const Value* y = n.output(0);
    const int64_t group = n.attr_int("group", 1);
    const int64_t cout = size_of(w, 0), cin_g = size_of(w, 1);
    if (cout <= 0 || cin_g <= 0 || group < 1 || cout % group != 0)
      return block(r, n, p, axis, "has a weight of unknown shape");
    const int64_t cout_g = cout / group;
    auto out_side = [&](int64_t sz, bool skip_w, bool skip_b, bool skip_y) {
      if (!skip_y) r.relations.push_back(identity(y, 1, sz));
      if (!skip_w) r.relations.push_back(identity(w, 0, sz));
      if (b && !skip_b) r.relations.push_back(identity(b, 0, sz));
    };
    if (!p.output && p.index == 0) {
      if (axis == 0) return r.relations.push_back(identity(y, 0, size));
      if (axis != 1) return block(r, n, p, axis, "convolves over it (a spatial axis)");
      if (group == 1) return r.relations.push_back(identity(w, 1, size));
      r.relations.push_back({y, 1, 0, cin_g, 0, cout_g, group});
      r.relations.push_back({w, 0, 0, cin_g, 0, cout_g, group});
      return;
    }
    const bool is_w = !p.output && p.index == 1, is_b = !p.output && p.index == 2;
    if (is_w && axis == 1) {
      if (group != 1)
        return block(r, n, p, axis,
                     "is a grouped convolution (its per-group input channels "
                     "cannot be pruned alone)");
      return r.relations.push_back(identity(x, 1, size));
    }
    if (p.output && axis == 0) return r.relations.push_back(identity(x, 0, size));
    const bool channel = (p.output && axis == 1) || (is_w && axis == 0) || (is_b && axis == 0);
    if (!channel) return block(r, n, p, axis, "convolves over it (a spatial axis)");
    out_side(size, is_w, is_b, p.output);
    if (group != 1) r.relations.push_back({x, 1, 0, cout_g, 0, cin_g, group});
  }

  static void conv_transpose(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    if (n.attr_int("group", 1) != 1)
      return block(r, n, p, axis, "is a grouped transposed convolution");
    const Value* x = n.input(0);
    const Value* w = n.input(1);
    const Value* b = n.input(2);
    const Value* y = n.output(0);
    if (!p.output && p.index == 0) {
      if (axis == 0) return r.relations.push_back(identity(y, 0, size));
      if (axis != 1) return block(r, n, p, axis, "convolves over it (a spatial axis)");
      return r.relations.push_back(identity(w, 0, size));
    }
    const bool is_w = !p.output && p.index == 1, is_b = !p.output && p.index == 2;
    if (is_w && axis == 0) return r.relations.push_back(identity(x, 1, size));
    if (p.output && axis == 0) return r.relations.push_back(identity(x, 0, size));
    const bool channel = (p.output && axis == 1) || (is_w && axis == 1) || (is_b && axis == 0);
    if (!channel) return block(r, n, p, axis, "convolves over it (a spatial axis)");
    if (!p.output) r.relations.push_back(identity(y, 1, size));
    if (!is_w) r.relations.push_back(identity(w, 1, size));
    if (b && !is_b) r.relations.push_back(identity(b, 0, size));
  }

  static void gemm(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    const bool ta = n.attr_int("transA", 0) != 0, tb = n.attr_int("transB", 0) != 0;
    const Value* a = n.input(0);
    const Value* b = n.input(1);
    const Value* c = n.input(2);
    const Value* y = n.output(0);
    const int a_k = ta ? 0 : 1, a_m = ta ? 1 : 0, b_k = tb ? 1 : 0, b_n = tb ? 0 : 1;
    // Which logical axis (M, N or K) the tracked dimension is.
    char role = 0;
    if (p.output)
      role = axis == 0 ? 'M' : 'N';
    else if (p.index == 0)
      role = axis == a_k ? 'K' : 'M';
    else if (p.index == 1)
      role = axis == b_k ? 'K' : 'N';
    else {
      const int cr = rank_of(c);
      role = (cr == 2 && axis == 0) ? 'M' : 'N';
    }
    auto add = [&](const Value* v, int ax) {
      if (v) r.relations.push_back(identity(v, ax, size));
    };
    const bool self_a = !p.output && p.index == 0, self_b = !p.output && p.index == 1,
               self_c = !p.output && p.index == 2;
    if (role == 'K') {
      add(self_a ? b : a, self_a ? b_k : a_k);
      return;
    }
    if (role == 'M' && !self_a) add(a, a_m);
    if (role == 'N' && !self_b) add(b, b_n);
    if (!p.output) add(y, role == 'M' ? 0 : 1);
    if (c && !self_c) {
      const int cr = rank_of(c);
      if (role == 'N' && cr >= 1 && size_of(c, cr - 1) == size) add(c, cr - 1);
      if (role == 'M' && cr == 2 && size_of(c, 0) == size) add(c, 0);
    }
  }

  static void matmul(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    const Value* a = n.input(0);
    const Value* b = n.input(1);
    const Value* y = n.output(0);
    const int ra = rank_of(a), rb = rank_of(b), ry = rank_of(y);
    if (ra < 1 || rb < 1 || ry < 0) return block(r, n, p, axis, "has an unranked operand");
    // Output layout: batch..., [M if ra >= 2], [N if rb >= 2].
    const int y_n = rb >= 2 ? ry - 1 : -1;
    const int y_m = ra >= 2 ? (rb >= 2 ? ry - 2 : ry - 1) : -1;
    const int batch = ry - (y_m >= 0 ? 1 : 0) - (y_n >= 0 ? 1 : 0);
    const int a_k = ra - 1, a_m = ra >= 2 ? ra - 2 : -1;
    const int b_k = rb >= 2 ? rb - 2 : 0, b_n = rb >= 2 ? rb - 1 : -1;
    auto add = [&](const Value* v, int ax) { r.relations.push_back(identity(v, ax, size)); };
    // Batch axes: output axis i <-> operand axis i - (batch - operand batch rank).
    auto batch_of = [&](int rank, int nonbatch) { return rank - nonbatch; };
    const int a_batch = batch_of(ra, ra >= 2 ? 2 : 1), b_batch = batch_of(rb, rb >= 2 ? 2 : 1);
    int out_batch_axis = -1;
    if (!p.output && p.index == 0) {
      if (axis == a_k) return add(b, b_k);
      if (axis == a_m) return add(y, y_m);
      out_batch_axis = axis + (batch - a_batch);
    } else if (!p.output && p.index == 1) {
      if (axis == b_k) return add(a, a_k);
      if (axis == b_n) return add(y, y_n);
      out_batch_axis = axis + (batch - b_batch);
    } else {
      if (axis == y_m) return add(a, a_m);
      if (axis == y_n) return add(b, b_n);
      out_batch_axis = axis;
    }
    // A batch axis: every operand that has it at full size carries it.
    r.flags.batched_matmul = true;
    if (p.output || size_of(y, out_batch_axis) == size) {
      if (!p.output) add(y, out_batch_axis);
    } else {
      return block(r, n, p, axis, "broadcasts it over a batch axis");
    }
    const int ia = out_batch_axis - (batch - a_batch), ib = out_batch_axis - (batch - b_batch);
    if (!(!p.output && p.index == 0) && ia >= 0 && size_of(a, ia) == size) add(a, ia);
    if (!(!p.output && p.index == 1) && ib >= 0 && size_of(b, ib) == size) add(b, ib);
  }

  static void concat(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    const int ca = normalize(n.attr_int("axis", 0), rank_of(n.output(0)));
    if (axis != ca) {
      if (!p.output) r.relations.push_back(identity(n.output(0), axis, size));
      for (int i = 0; i < n.num_inputs(); ++i)
        if (n.input(i) && !(!p.output && p.index == i) && size_of(n.input(i), axis) == size)
          r.relations.push_back(identity(n.input(i), axis, size));
      return;
    }
    int64_t offset = 0;
    for (int i = 0; i < n.num_inputs(); ++i) {
      const int64_t s = size_of(n.input(i), ca);
      if (s < 0) return block(r, n, p, axis, "concatenates inputs of unknown size");
      if (p.output)
        r.relations.push_back({n.input(i), ca, offset, 1, 0, 1, s});
      else if (p.index == i)
        r.relations.push_back({n.output(0), ca, 0, 1, offset, 1, s});
      offset += s;
    }
  }

  static void split(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    if (!p.output && p.index != 0) return block(r, n, p, axis, "takes it as its split sizes");
    const int sa = normalize(n.attr_int("axis", 0), rank_of(n.input(0)));
    if (axis != sa) {
      if (p.output) r.relations.push_back(identity(n.input(0), axis, size));
      for (int i = 0; i < n.num_outputs(); ++i)
        if (!(p.output && p.index == i)) r.relations.push_back(identity(n.output(i), axis, size));
      return;
    }
    int64_t offset = 0;
    for (int i = 0; i < n.num_outputs(); ++i) {
      const int64_t s = size_of(n.output(i), sa);
      if (s < 0) return block(r, n, p, axis, "splits into outputs of unknown size");
      if (!p.output)
        r.relations.push_back({n.output(i), sa, offset, 1, 0, 1, s});
      else if (p.index == i)
        r.relations.push_back({n.input(0), sa, 0, 1, offset, 1, s});
      offset += s;
    }
  }

  static void slice(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    if (!p.output && p.index != 0) return block(r, n, p, axis, "takes it as a slice bound");
    const Value* x = n.input(0);
    const int rank = rank_of(x);
    const bool attrs = n.has_attr("starts");
    bool has_starts = false, has_ends = false, has_axes = false, has_steps = false;
    auto starts = int_operand(n, 1, "starts", &has_starts);
    auto ends = int_operand(n, 2, "ends", &has_ends);
    auto axes = int_operand(n, 3, "axes", &has_axes);
    std::optional<std::vector<int64_t>> steps = std::vector<int64_t>{};
    if (!attrs) steps = int_operand(n, 4, "steps", &has_steps);
    if (!starts || !ends || !axes || !steps)
      return block(r, n, p, axis, "slices with bounds computed at run time");
    std::vector<int64_t> axis_list = *axes;
    if (!has_axes)
      for (size_t i = 0; i < starts->size(); ++i)
        axis_list.push_back(static_cast<int64_t>(i));
    int found = -1;
    for (size_t i = 0; i < axis_list.size(); ++i)
      if (normalize(axis_list[i], rank) == axis) found = static_cast<int>(i);
    if (found < 0) {
      r.relations.push_back(identity(p.output ? x : n.output(0), axis, size));
      return;
    }
    const size_t f = static_cast<size_t>(found);
    const int64_t step = has_steps && f < steps->size() ? (*steps)[f] : 1;
    if (step != 1) return block(r, n, p, axis, "slices it with a step other than 1");
    const int64_t in_size = size_of(x, axis);
    if (in_size < 0) return block(r, n, p, axis, "slices an axis of unknown size");
    auto clamp = [&](int64_t v) {
      if (v < 0) v += in_size;
      return std::max<int64_t>(0, std::min(v, in_size));
    };
    const int64_t s = clamp((*starts)[f]), e = std::max(s, clamp((*ends)[f]));
    if (e - s == 0) return;
    if (p.output)
      r.relations.push_back({x, axis, 0, 1, s, 1, e - s});
    else
      r.relations.push_back({n.output(0), axis, s, 1, 0, 1, e - s});
  }

  static void transpose(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    const int rank = rank_of(n.input(0));
    std::vector<int64_t> perm = n.attr_ints("perm");
    if (perm.empty())
      for (int i = rank - 1; i >= 0; --i)
        perm.push_back(i);
    if (static_cast<int>(perm.size()) != rank) return block(r, n, p, axis, "has a bad perm");
    if (p.output)
      return r.relations.push_back(identity(n.input(0), static_cast<int>(perm[axis]), size));
    for (int k = 0; k < rank; ++k)
      if (perm[static_cast<size_t>(k)] == axis)
        return r.relations.push_back(identity(n.output(0), k, size));
    block(r, n, p, axis, "has a bad perm");
  }

  /// Whether entry `axis` of a Reshape's target can be rewritten: a constant, or a Concat of
  /// 1-D pieces of known length (as exporters write `x.view(n, t, heads, d)`) used only here.
  static bool target_rewritable(const Node& n) {
    const Value* t = n.input(1);
    if (!t) return false;
    if (constant_value(t)) return true;
    const Node* c = t->producer();
    if (!c || c->op() != "Concat" || t->uses().size() != 1 || n.graph().is_output(t)) return false;
    for (const Value* piece : c->inputs())
      if (!piece || rank_of(piece) != 1 || size_of(piece, 0) < 0) return false;
    return true;
  }

  static void reshape(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    if (!p.output && p.index != 0) return block(r, n, p, axis, "takes it as a shape operand");
    const Value* x = n.input(0);
    const Value* y = n.output(0);
    if (!x->type().ranked() || !y->type().ranked())
      return block(r, n, p, axis, "has an unranked operand");
    if (n.op() == "Reshape" && !target_rewritable(n))
      return block(r, n, p, axis, "takes a target shape computed at run time");
    const std::vector<Dim>& from = p.output ? *y->type().dims : *x->type().dims;
    const std::vector<Dim>& to = p.output ? *x->type().dims : *y->type().dims;
    const Value* other = p.output ? x : y;
    const DimProduct before = product(from, 0, static_cast<size_t>(axis));
    const DimProduct after = product(from, static_cast<size_t>(axis) + 1, from.size());
    if (!before.valid || !after.valid)
      return block(r, n, p, axis, "reshapes a tensor of unknown shape");
    for (size_t b = 0; b < to.size(); ++b) {
      if (!(product(to, 0, b) == before) || !to[b].is_known()) continue;
      const int64_t ob = to[b].value;
      DimProduct rest = product(to, b + 1, to.size());
      if (!rest.valid || (ob == 1 && size != 1)) continue;
      if (ob % size == 0) {
        // Merge: one element here is a block of `m` elements there.
        const int64_t m = ob / size;
        rest.known *= m;
        if (rest == after) {
          r.relations.push_back({other, static_cast<int>(b), 0, 1, 0, m, size});
          return;
        }
      } else if (size % ob == 0) {
        // Split: a block of `m` elements here is one element there.
        const int64_t m = size / ob;
        DimProduct want = after;
        want.known *= m;
        if (rest == want) {
          r.relations.push_back({other, static_cast<int>(b), 0, m, 0, 1, ob});
          r.flags.head_split = true;
          return;
        }
      }
    }
    block(r, n, p, axis, "reshapes it into a layout shrink cannot follow");
  }

  static void pool(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    if (axis > 1) return block(r, n, p, axis, "pools over it (a spatial axis)");
    if (p.output && p.index != 0) return block(r, n, p, axis, "returns flat indices");
    if (p.output) return r.relations.push_back(identity(n.input(0), axis, size));
    for (int i = 0; i < n.num_outputs(); ++i) {
      if (i > 0 && !n.output(i)->uses().empty())
        return block(r, n, p, axis, "returns flat indices that are used");
      if (i == 0) r.relations.push_back(identity(n.output(0), axis, size));
    }
  }

  static void pad(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    if (!p.output && p.index != 0) return block(r, n, p, axis, "takes it as a pad operand");
    bool present = false, has_axes = false;
    auto pads = int_operand(n, 1, "pads", &present);
    auto axes = int_operand(n, 3, "axes", &has_axes);
    const int rank = rank_of(n.input(0));
    if (!pads || !axes) return block(r, n, p, axis, "pads with amounts computed at run time");
    std::vector<int64_t> axis_list = *axes;
    if (!has_axes)
      for (int i = 0; i < rank; ++i)
        axis_list.push_back(i);
    const size_t k = axis_list.size();
    for (size_t i = 0; i < k && 2 * k <= pads->size(); ++i)
      if (normalize(axis_list[i], rank) == axis && ((*pads)[i] != 0 || (*pads)[i + k] != 0))
        return block(r, n, p, axis, "pads it");
    r.relations.push_back(identity(p.output ? n.input(0) : n.output(0), axis, size));
  }

  static void resize(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    if (!p.output && p.index != 0) return block(r, n, p, axis, "takes it as a resize operand");
    if (n.input(3)) return block(r, n, p, axis, "resizes to explicit sizes");
    const Value* other = p.output ? n.input(0) : n.output(0);
    if (size_of(other, axis) != size) return block(r, n, p, axis, "resizes it");
    r.relations.push_back(identity(other, axis, size));
  }

  static void gather(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    if (!p.output && p.index != 0) return block(r, n, p, axis, "takes it as gather indices");
    const int rank = rank_of(n.input(0)), ir = rank_of(n.input(1));
    const int ga = normalize(n.attr_int("axis", 0), rank);
    if (ir < 0) return block(r, n, p, axis, "has unranked indices");
    if (!p.output) {
      if (axis == ga) return block(r, n, p, axis, "gathers along it");
      return r.relations.push_back(identity(n.output(0), axis < ga ? axis : axis - 1 + ir, size));
    }
    if (axis < ga) return r.relations.push_back(identity(n.input(0), axis, size));
    if (axis >= ga + ir) return r.relations.push_back(identity(n.input(0), axis + 1 - ir, size));
    block(r, n, p, axis, "indexes it");
  }

  static void qdq(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    const Value* x = n.input(0);
    const Value* scale = n.input(1);
    const Value* zp = n.input(2);
    const int rank = rank_of(x);
    const int qa = normalize(n.attr_int("axis", 1), rank);
    const bool per_axis = rank_of(scale) == 1 && size_of(scale, 0) > 1;
    if (!p.output && p.index != 0) {
      if (!per_axis) return block(r, n, p, axis, "takes it as a quantization parameter");
      r.relations.push_back(identity(x, qa, size));
      r.relations.push_back(identity(n.output(0), qa, size));
      const Value* sibling = p.index == 1 ? zp : scale;
      if (sibling) r.relations.push_back(identity(sibling, 0, size));
      return;
    }
    r.relations.push_back(identity(p.output ? x : n.output(0), axis, size));
    if (per_axis && axis == qa) {
      r.relations.push_back(identity(scale, 0, size));
      if (zp) r.relations.push_back(identity(zp, 0, size));
    }
  }

  static void tile_expand(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    if (!p.output && p.index != 0) return block(r, n, p, axis, "takes it as a shape operand");
    const Value* x = n.input(0);
    const Value* y = n.output(0);
    const int rx = rank_of(x), ry = rank_of(y);
    const int in_axis = p.output ? axis - (ry - rx) : axis;
    const int out_axis = p.output ? axis : axis + (ry - rx);
    std::optional<std::vector<int64_t>> arg = const_ints(n.input(1));
    if (rx < 0 || ry < 0 || in_axis < 0 || !arg) return block(r, n, p, axis, "expands it");
    // The operand entry that governs the axis must be the no-op 1 (or absent, for Expand).
    const int entry = n.op() == "Tile" ? in_axis : out_axis - (ry - static_cast<int>(arg->size()));
    if (entry >= 0 && entry < static_cast<int>(arg->size()) &&
        (*arg)[static_cast<size_t>(entry)] != 1)
      return block(r, n, p, axis, n.op() == "Tile" ? "repeats it" : "expands it");
    if (size_of(x, in_axis) != size_of(y, out_axis)) return block(r, n, p, axis, "expands it");
    r.relations.push_back(identity(p.output ? x : y, p.output ? in_axis : out_axis, size));
  }

  static void trilu(const Node& n, Port p, int axis, int64_t size, RuleResult& r) {
    if (!p.output && p.index != 0) return block(r, n, p, axis, "takes it as its diagonal");
    if (axis >= rank_of(n.input(0)) - 2) return block(r, n, p, axis, "masks along it");
    r.relations.push_back(identity(p.output ? n.input(0) : n.output(0), axis, size));
  }
};

class UnionFind {
public:
  int64_t add(int64_t n) {
    const int64_t first = static_cast<int64_t>(parent_.size());
    for (int64_t i = 0; i < n; ++i)
      parent_.push_back(first + i);
    return first;
  }
  int64_t find(int64_t x) {
    while (parent_[static_cast<size_t>(x)] != x) {
      parent_[static_cast<size_t>(x)] =
          parent_[static_cast<size_t>(parent_[static_cast<size_t>(x)])];
      x = parent_[static_cast<size_t>(x)];
    }
    return x;
  }
  void unite(int64_t a, int64_t b) {
    a = find(a);
    b = find(b);
    if (a == b) return;
    // The smaller index stays the root, so component roots follow discovery order.
    if (b < a) std::swap(a, b);
    parent_[static_cast<size_t>(b)] = a;
  }
  int64_t size() const { return static_cast<int64_t>(parent_.size()); }

private:
  std::vector<int64_t> parent_;
};

/// The analysis state: every tracked dimension and the union-find over their elements.
class Analysis {
public:
  explicit Analysis(const Graph& g) : graph_(g) {}

  std::vector<PruneGroup> run() {
    // Seeding from the weight (whose size is always known) rather than the output lets a
    // layer with an untyped output still report why it cannot be pruned.
    for (const Node* n : graph_.nodes()) {
      int axis = -1;
      const Value* w = source_weight(*n, &axis);
      if (!w) continue;
      dim_of(w, axis, -1);
      drain();
    }
    return groups();
  }

private:
  struct DimRec {
    const Value* value = nullptr;
    int axis = 0;
    int64_t size = 0;
    int64_t first = 0; ///< Index of its element 0 in the union-find.
    std::vector<std::string> blockers;
    RuleFlags flags;
  };

  /// The constant weight of a layer and its output-channel axis, whose channels seed a group.
  static const Value* source_weight(const Node& n, int* axis) {
    const std::string& op = n.op();
    const Value* w = n.input(1);
    if (!w || !constant_value(w) || rank_of(w) < 2) return nullptr;
    if (op == "Conv")
      *axis = 0;
    else if (op == "ConvTranspose")
      *axis = 1;
    else if (op == "Gemm")
      *axis = n.attr_int("transB", 0) != 0 ? 0 : 1;
    else if (op == "MatMul" && rank_of(w) == 2)
      *axis = 1;
    else
      return nullptr;
    return w;
  }

  /// The id of (v, axis), creating it when new; -1 when its size is unknown (a blocker is then
  /// added to `from`).
  int dim_of(const Value* v, int axis, int from) {
    auto key = std::make_pair(v, axis);
    auto it = index_.find(key);
    if (it != index_.end()) return it->second;
    const int64_t size = size_of(v, axis);
    if (size < 0) {
      if (from >= 0)
        dims_[static_cast<size_t>(from)].blockers.push_back(
            "axis " + std::to_string(axis) + " of '" + v->name() +
            "' has an unknown size (run infer-shapes first)");
      return -1;
    }
    DimRec d;
    d.value = v;
    d.axis = axis;
    d.size = size;
    d.first = uf_.add(size);
    dims_.push_back(d);
    const int id = static_cast<int>(dims_.size()) - 1;
    index_[key] = id;
    work_.push_back(id);
    return id;
  }

  void drain() {
    while (!work_.empty()) {
      const int id = work_.front();
      work_.pop_front();
      visit(id);
    }
  }

  void visit(int id) {
    const Value* v = dims_[static_cast<size_t>(id)].value;
    if (v->is_graph_input())
      add_blocker(id, "'" + v->name() + "' is a graph input (its shape is fixed)");
    if (graph_.is_output(v))
      add_blocker(id, "'" + v->name() + "' is a graph output (its shape is fixed)");
    if (Node* p = v->producer()) apply(*p, Port{true, v->producer_index()}, id);
    for (const Use& u : v->uses())
      apply(*u.node, Port{false, u.index}, id);
  }

  void add_blocker(int id, const std::string& why) {
    auto& b = dims_[static_cast<size_t>(id)].blockers;
    if (std::find(b.begin(), b.end(), why) == b.end()) b.push_back(why);
  }

  void apply(const Node& n, Port port, int id) {
    const DimRec d = dims_[static_cast<size_t>(id)];
    RuleResult r = Rules::apply(n, port, d.axis, d.size);
    if (!r.blocker.empty()) {
      add_blocker(id, r.blocker);
      return;
    }
    dims_[static_cast<size_t>(id)].flags.head_split |= r.flags.head_split;
    dims_[static_cast<size_t>(id)].flags.batched_matmul |= r.flags.batched_matmul;
    for (const Relation& rel : r.relations) {
      if (!rel.value) continue;
      const int other = dim_of(rel.value, rel.axis, id);
      if (other < 0) continue;
      const DimRec& o = dims_[static_cast<size_t>(other)];
      const int64_t self_end = rel.self_offset + rel.count * rel.self_block;
      const int64_t other_end = rel.other_offset + rel.count * rel.other_block;
      if (self_end > d.size || other_end > o.size || rel.count <= 0) {
        add_blocker(id, node_desc(n) + " couples it with axis " + std::to_string(rel.axis) +
                            " of '" + rel.value->name() + "' of a different size");
        continue;
      }
      for (int64_t k = 0; k < rel.count; ++k) {
        const int64_t anchor = d.first + rel.self_offset + k * rel.self_block;
        for (int64_t t = 1; t < rel.self_block; ++t)
          uf_.unite(anchor, anchor + t);
        for (int64_t t = 0; t < rel.other_block; ++t)
          uf_.unite(anchor, o.first + rel.other_offset + k * rel.other_block + t);
      }
    }
  }

  /// The role and owning layer of a constant member.
  static void constant_role(const Value* v, int axis, PruneMember& m) {
    m.role = PruneRole::Parameter;
    if (v->uses().empty()) return;
    const Use& u = v->uses().front();
    const Node& n = *u.node;
    m.layer = n.name();
    m.layer_op = n.op();
    m.layer_input = u.index;
    if (u.index != 1) return;
    const std::string& op = n.op();
    if (op == "Conv")
      m.role = axis == 0 ? PruneRole::Output : axis == 1 ? PruneRole::Input : PruneRole::Parameter;
    else if (op == "ConvTranspose")
      m.role = axis == 1 ? PruneRole::Output : axis == 0 ? PruneRole::Input : PruneRole::Parameter;
    else if (op == "Gemm") {
      const bool tb = n.attr_int("transB", 0) != 0;
      m.role = axis == (tb ? 0 : 1) ? PruneRole::Output : PruneRole::Input;
    } else if (op == "MatMul" && rank_of(v) == 2)
      m.role = axis == 1 ? PruneRole::Output : PruneRole::Input;
  }

  std::vector<PruneGroup> groups() {
    // Components by root, each with its elements per dimension.
    std::map<int64_t, std::map<int, std::vector<int64_t>>> comps;
    for (size_t d = 0; d < dims_.size(); ++d)
      for (int64_t i = 0; i < dims_[d].size; ++i)
        comps[uf_.find(dims_[d].first + i)][static_cast<int>(d)].push_back(i);
    // Components that touch the same dimensions are units of one group.
    std::map<std::vector<int>, std::vector<int64_t>> by_signature;
    std::vector<std::vector<int>> order;
    for (auto& [root, per_dim] : comps) {
      std::vector<int> sig;
      for (auto& kv : per_dim)
        sig.push_back(kv.first);
      auto it = by_signature.find(sig);
      if (it == by_signature.end()) order.push_back(sig);
      by_signature[sig].push_back(root);
    }
    // Order groups by their first producer's position in the graph, then by discovery.
    std::unordered_map<const Node*, size_t> position;
    {
      size_t i = 0;
      for (const Node* n : graph_.nodes())
        position[n] = i++;
    }
    auto group_key = [&](const std::vector<int>& sig) {
      size_t best = SIZE_MAX;
      for (int d : sig) {
        const Value* v = dims_[static_cast<size_t>(d)].value;
        PruneMember m;
        if (!constant_value(v)) continue;
        constant_role(v, dims_[static_cast<size_t>(d)].axis, m);
        if (m.role == PruneRole::Output) best = std::min(best, position[graph_.find_node(m.layer)]);
      }
      return std::make_pair(best, sig.front());
    };
    std::stable_sort(order.begin(), order.end(),
                     [&](const auto& a, const auto& b) { return group_key(a) < group_key(b); });

    std::vector<PruneGroup> out;
    for (const std::vector<int>& sig : order) {
      PruneGroup g;
      g.id = static_cast<int>(out.size());
      std::vector<int64_t> roots = by_signature[sig];
      // Units in the order of their first index in the first dimension.
      std::sort(roots.begin(), roots.end(), [&](int64_t a, int64_t b) {
        return comps[a][sig.front()].front() < comps[b][sig.front()].front();
      });
      g.units = static_cast<int64_t>(roots.size());
      bool split = false, batched = false;
      std::set<std::string> seen_nodes;
      std::vector<std::pair<size_t, std::string>> producers, consumers, carriers;
      auto note = [&](std::vector<std::pair<size_t, std::string>>& list, const Node* n) {
        if (seen_nodes.insert(n->name()).second) list.push_back({position[n], n->name()});
      };
      for (int d : sig) {
        const DimRec& rec = dims_[static_cast<size_t>(d)];
        split |= rec.flags.head_split;
        batched |= rec.flags.batched_matmul;
        for (const std::string& b : rec.blockers)
          if (std::find(g.blockers.begin(), g.blockers.end(), b) == g.blockers.end())
            g.blockers.push_back(b);
        PruneMember m;
        m.value = rec.value->name();
        m.axis = rec.axis;
        m.size = rec.size;
        for (int64_t root : roots)
          m.units.push_back(comps[root][d]);
        if (constant_value(rec.value))
          constant_role(rec.value, rec.axis, m);
        else
          m.role = PruneRole::Activation;
        g.members.push_back(std::move(m));
      }
      // Producers make the units through a weight's output axis, consumers read them through a
      // weight's input axis; every other node they pass is a carrier.
      for (PruneRole role : {PruneRole::Output, PruneRole::Input})
        for (const PruneMember& m : g.members)
          if (m.role == role)
            if (const Node* n = graph_.find_node(m.layer))
              note(role == PruneRole::Output ? producers : consumers, n);
      for (int d : sig) {
        const Value* v = dims_[static_cast<size_t>(d)].value;
        if (const Node* p = v->producer()) note(carriers, p);
        for (const Use& u : v->uses())
          note(carriers, u.node);
      }
      for (auto* list : {&producers, &consumers, &carriers})
        std::sort(list->begin(), list->end());
      for (auto& p : producers)
        g.producers.push_back(p.second);
      for (auto& p : consumers)
        g.consumers.push_back(p.second);
      for (auto& p : carriers)
        g.carriers.push_back(p.second);
      g.kind = split && batched ? PruneUnitKind::Head : PruneUnitKind::Channel;
      out.push_back(std::move(g));
    }
    return out;
  }

  const Graph& graph_;
  std::vector<DimRec> dims_;
  std::map<std::pair<const Value*, int>, int> index_;
  UnionFind uf_;
  std::deque<int> work_;
};

} // namespace

const char* prune_role_name(PruneRole role) {
  switch (role) {
  case PruneRole::Output:
    return "output";
  case PruneRole::Input:
    return "input";
  case PruneRole::Parameter:
    return "parameter";
  case PruneRole::Activation:
    return "activation";
  }
  return "?";
}

std::string PruneGroup::name() const {
  if (!producers.empty()) return producers.front();
  return members.empty() ? std::string("?") : members.front().value;
}

std::vector<PruneGroup> find_prune_groups(const Graph& graph) {
  return Analysis(graph).run();
}

std::string describe_groups(const std::vector<PruneGroup>& groups) {
  std::ostringstream os;
  auto list = [&](const char* label, const std::vector<std::string>& names) {
    if (names.empty()) return;
    os << "  " << label;
    for (size_t i = 0; i < names.size(); ++i)
      os << (i ? ", " : "") << names[i];
    os << "\n";
  };
  for (const PruneGroup& g : groups) {
    const bool heads = g.kind == PruneUnitKind::Head;
    os << "group " << g.id << " '" << g.name() << "': " << g.units
       << (heads ? (g.units == 1 ? " head" : " heads") : (g.units == 1 ? " channel" : " channels"))
       << ", " << (g.prunable() ? "prunable" : "blocked") << "\n";
    list("out:    ", g.producers);
    list("in:     ", g.consumers);
    list("via:    ", g.carriers);
    std::vector<std::string> params;
    for (const PruneMember& m : g.members) {
      if (m.role == PruneRole::Activation) continue;
      std::string s = m.value + "[" + std::to_string(m.axis) + "]";
      const size_t per_unit = m.units.empty() ? 0 : m.units.front().size();
      if (per_unit != 1) s += " x" + std::to_string(per_unit);
      params.push_back(s);
    }
    list("params: ", params);
    for (const std::string& b : g.blockers)
      os << "  blocked: " << b << "\n";
  }
  return os.str();
}

} // namespace shrink
