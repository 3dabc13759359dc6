#include "shrink/compress/prune_rewrite.h"

#include "shrink/core/error.h"
#include "shrink/ir/shape_inference.h"
#include "shrink/pass/rewrite.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

namespace shrink {

namespace {

using DimKey = std::pair<std::string, int>;
using Removals = std::map<DimKey, std::set<int64_t>>;

int64_t size_of(const Value* v, int axis) {
  if (!v || !v->type().ranked() || axis < 0 || axis >= v->type().rank()) return -1;
  const Dim& d = (*v->type().dims)[static_cast<size_t>(axis)];
  return d.is_known() ? d.value : -1;
}

int64_t removed_count(const Removals& rm, const Value* v, int axis) {
  if (!v) return 0;
  auto it = rm.find({v->name(), axis});
  return it == rm.end() ? 0 : static_cast<int64_t>(it->second.size());
}

const std::set<int64_t>* removed_set(const Removals& rm, const Value* v, int axis) {
  if (!v) return nullptr;
  auto it = rm.find({v->name(), axis});
  return it == rm.end() || it->second.empty() ? nullptr : &it->second;
}

/// Number of elements of `s` below `limit`.
int64_t count_below(const std::set<int64_t>& s, int64_t limit) {
  return static_cast<int64_t>(std::distance(s.begin(), s.lower_bound(limit)));
}

std::vector<int64_t> int_values(const Tensor& t) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < t.numel(); ++i)
    out.push_back(static_cast<int64_t>(t.at(i)));
  return out;
}

/// An integer tensor like `like` (same dtype and shape) holding `values`.
Tensor int_tensor_like(const Tensor& like, const std::vector<int64_t>& values) {
  if (like.dtype() == DType::i32) {
    std::vector<int32_t> v(values.begin(), values.end());
    return Tensor::from_vector<int32_t>(like.shape(), v);
  }
  return Tensor::from_vector<int64_t>(like.shape(), values);
}

/// New values for constants that some nodes read, collected first so that a constant shared by
/// several nodes that all want the same new value is rewritten once, keeping its name.
class ConstantWrites {
public:
  void add(Node* user, int index, Tensor t) { writes_.push_back({user, index, std::move(t)}); }

  void apply(Graph& g) {
    std::map<Value*, std::vector<const Write*>> by_value;
    std::vector<Value*> order;
    for (const Write& w : writes_) {
      Value* v = w.user->input(w.index);
      if (!by_value.count(v)) order.push_back(v);
      by_value[v].push_back(&w);
    }
    for (Value* v : order) {
      const std::vector<const Write*>& ws = by_value[v];
      bool same = v && v->uses().size() == ws.size() && !g.is_output(v);
      for (const Write* w : ws)
        same = same && w->tensor.equals(ws.front()->tensor);
      if (same && v->is_initializer()) {
        g.set_initializer(v, ws.front()->tensor);
        continue;
      }
      for (const Write* w : ws)
        set_constant_input(g, w->user, w->index, w->tensor,
                           v ? v->name() : w->user->name() + "_operand");
    }
  }

private:
  struct Write {
    Node* user;
    int index;
    Tensor tensor;
  };
  std::vector<Write> writes_;
};

/// Rewrites the entry for output axis `axis` of a Reshape's target to `new_size`.
void fix_reshape_entry(Node& n, int axis, int64_t new_size, const Removals& rm,
                       ConstantWrites& writes, std::map<Node*, std::vector<int64_t>>& pending) {
  const Value* x = n.input(0);
  Value* target = n.input(1);
  const bool allowzero = n.attr_int("allowzero", 0) != 0;
  // The value an entry keeps, or the new size.
  auto entry_for = [&](int64_t old_entry) {
    if (old_entry == -1) return old_entry;
    if (old_entry == 0 && !allowzero) {
      const int64_t in_new = size_of(x, axis) - removed_count(rm, x, axis);
      if (in_new == new_size) return old_entry;
    }
    return new_size;
  };
  if (const Tensor* t = constant_value(target)) {
    std::vector<int64_t>& vals = pending[&n];
    if (vals.empty()) vals = int_values(*t);
    vals[static_cast<size_t>(axis)] = entry_for(vals[static_cast<size_t>(axis)]);
    return;
  }
  // A Concat of 1-D pieces (checked by the analysis): find the piece that holds the entry.
  Node* c = target->producer();
  int64_t offset = 0;
  for (int i = 0; i < c->num_inputs(); ++i) {
    Value* piece = c->input(i);
    const int64_t len = size_of(piece, 0);
    if (axis < offset + len) {
      const int64_t k = axis - offset;
      if (const Tensor* pt = constant_value(piece)) {
        std::vector<int64_t> vals = int_values(*pt);
        const int64_t e = entry_for(vals[static_cast<size_t>(k)]);
        if (e == vals[static_cast<size_t>(k)]) return;
        vals[static_cast<size_t>(k)] = e;
        writes.add(c, i, int_tensor_like(*pt, vals));
        return;
      }
      if (len != 1)
        throw Error("prune: node '" + n.name() + "' (Reshape): entry " + std::to_string(axis) +
                    " of its target is computed at run time");
      // A run-time entry (e.g. Gather(Shape(x))) becomes the statically known new size.
      const DType dt = piece->type().dtype == DType::i32 ? DType::i32 : DType::i64;
      Tensor like(dt, {1});
      writes.add(c, i, int_tensor_like(like, {new_size}));
      return;
    }
    offset += len;
  }
}

/// Updates attributes and shape operands of nodes whose channel counts change.
void fix_nodes(Graph& g, const Removals& rm) {
  ConstantWrites writes;
  std::map<Node*, std::vector<int64_t>> reshape_targets;
  for (Node* n : g.nodes()) {
    const std::string& op = n->op();
    if (op == "Conv" && n->attr_int("group", 1) > 1) {
      const Value* w = n->input(1);
      const int64_t r = removed_count(rm, w, 0);
      if (r == 0) continue;
      const int64_t group = n->attr_int("group", 1);
      const int64_t cout = size_of(w, 0);
      const int64_t cout_g = cout / group;
      const int64_t left = cout - r;
      if (cout_g <= 0 || left % cout_g != 0)
        throw Error("prune: node '" + n->name() + "' (Conv): removing " + std::to_string(r) +
                    " of " + std::to_string(cout) + " output channels breaks its " +
                    std::to_string(group) + " groups");
      n->set_attr("group", left / cout_g);
    } else if (op == "Reshape") {
      const Value* y = n->output(0);
      if (!y->type().ranked()) continue;
      for (int b = 0; b < y->type().rank(); ++b) {
        const int64_t r = removed_count(rm, y, b);
        if (r == 0) continue;
        fix_reshape_entry(*n, b, size_of(y, b) - r, rm, writes, reshape_targets);
      }
    } else if (op == "Split") {
      const Value* x = n->input(0);
      if (!x->type().ranked()) continue;
      const int rank = x->type().rank();
      int64_t axis = n->attr_int("axis", 0);
      if (axis < 0) axis += rank;
      if (removed_count(rm, x, static_cast<int>(axis)) == 0) continue;
      std::vector<int64_t> sizes;
      for (const Value* out : n->outputs())
        sizes.push_back(size_of(out, static_cast<int>(axis)) -
                        removed_count(rm, out, static_cast<int>(axis)));
      Tensor t = Tensor::from_vector<int64_t>({static_cast<int64_t>(sizes.size())}, sizes);
      if (n->has_attr("split")) {
        n->set_attr("split", sizes);
      } else {
        // Explicit sizes replace an even split (and opset 18's num_outputs, which ONNX forbids
        // next to them).
        n->remove_attr("num_outputs");
        if (n->input(1))
          writes.add(n, 1, t);
        else
          set_constant_input(g, n, 1, t, n->name() + "_split");
      }
    } else if (op == "Slice") {
      const Value* x = n->input(0);
      if (!x->type().ranked()) continue;
      const int rank = x->type().rank();
      const bool attrs = n->has_attr("starts");
      std::vector<int64_t> starts, ends, axes;
      const Tensor* st = attrs ? nullptr : constant_value(n->input(1));
      const Tensor* et = attrs ? nullptr : constant_value(n->input(2));
      if (attrs) {
        starts = n->attr_ints("starts");
        ends = n->attr_ints("ends");
        axes = n->attr_ints("axes");
      } else {
        if (!st || !et) continue;
        starts = int_values(*st);
        ends = int_values(*et);
        if (const Tensor* at = constant_value(n->input(3))) axes = int_values(*at);
      }
      if (axes.empty())
        for (size_t i = 0; i < starts.size(); ++i)
          axes.push_back(static_cast<int64_t>(i));
      bool changed = false;
      for (size_t i = 0; i < axes.size() && i < starts.size() && i < ends.size(); ++i) {
        const int a = static_cast<int>(axes[i] < 0 ? axes[i] + rank : axes[i]);
        const std::set<int64_t>* gone = removed_set(rm, x, a);
        if (!gone) continue;
        const int64_t size = size_of(x, a);
        auto clamp = [&](int64_t v) {
          if (v < 0) v += size;
          return std::max<int64_t>(0, std::min(v, size));
        };
        const int64_t s = clamp(starts[i]), e = std::max(s, clamp(ends[i]));
        const int64_t new_s = s - count_below(*gone, s);
        const int64_t new_e = new_s + (e - s) - (count_below(*gone, e) - count_below(*gone, s));
        starts[i] = new_s;
        ends[i] = new_e;
        changed = true;
      }
      if (!changed) continue;
      if (attrs) {
        n->set_attr("starts", starts);
        n->set_attr("ends", ends);
      } else {
        writes.add(n, 1, int_tensor_like(*st, starts));
        writes.add(n, 2, int_tensor_like(*et, ends));
      }
    }
  }
  // In program order, so that any new initializer names are deterministic.
  for (Node* user : g.nodes()) {
    auto it = reshape_targets.find(user);
    if (it != reshape_targets.end())
      writes.add(user, 1, int_tensor_like(*constant_value(user->input(1)), it->second));
  }
  writes.apply(g);
}

/// Slices a constant member: an initializer gets a new tensor, a Constant node's output is
/// replaced by a new initializer of the same name.
void slice_constant(Graph& g, Value* v, const std::map<int, std::set<int64_t>>& axes) {
  Tensor t = *constant_value(v);
  for (const auto& [axis, gone] : axes) {
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < t.dim(axis); ++i)
      if (!gone.count(i)) keep.push_back(i);
    t = slice_tensor(t, axis, keep);
  }
  if (v->is_initializer()) {
    g.set_initializer(v, std::move(t));
    return;
  }
  const std::string name = v->name();
  Value* fresh = g.add_initializer(g.fresh_name(name + "_pruned"), std::move(t));
  g.replace_all_uses(v, fresh);
  Node* producer = v->producer();
  g.erase(producer);
  g.rename(fresh, name);
}

} // namespace

Tensor slice_tensor(const Tensor& t, int axis, const std::vector<int64_t>& keep) {
  check(axis >= 0 && axis < t.rank(), "slice_tensor: axis " + std::to_string(axis) +
                                          " out of range for shape " + shape_str(t.shape()));
  Shape shape = t.shape();
  const int64_t size = shape[static_cast<size_t>(axis)];
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i)
    outer *= shape[static_cast<size_t>(i)];
  for (int i = axis + 1; i < t.rank(); ++i)
    inner *= shape[static_cast<size_t>(i)];
  shape[static_cast<size_t>(axis)] = static_cast<int64_t>(keep.size());
  Tensor out(t.dtype(), shape);
  const size_t es = dtype_size(t.dtype());
  const auto* src = static_cast<const unsigned char*>(t.raw());
  auto* dst = static_cast<unsigned char*>(out.raw_mutable());
  const size_t row = static_cast<size_t>(inner) * es;
  for (int64_t o = 0; o < outer; ++o)
    for (size_t k = 0; k < keep.size(); ++k) {
      check(keep[k] >= 0 && keep[k] < size, "slice_tensor: index out of range");
      std::memcpy(dst + (static_cast<size_t>(o) * keep.size() + k) * row,
                  src + (static_cast<size_t>(o * size + keep[k])) * row, row);
    }
  if (t.quant()) {
    QuantParams q = *t.quant();
    if (q.per_axis() && q.axis == axis) {
      QuantParams nq;
      nq.axis = q.axis;
      for (int64_t i : keep) {
        nq.scales.push_back(q.scales[static_cast<size_t>(i)]);
        nq.zero_points.push_back(q.zero_points[static_cast<size_t>(i)]);
      }
      q = nq;
    }
    out.set_quant(q);
  }
  return out;
}

void remove_units(Graph& graph, const std::vector<PruneGroup>& groups,
                  const std::vector<std::vector<int64_t>>& removed) {
  check(removed.size() <= groups.size(), "prune: " + std::to_string(removed.size()) +
                                             " removal lists for " + std::to_string(groups.size()) +
                                             " groups");
  Removals rm;
  for (size_t gi = 0; gi < removed.size(); ++gi) {
    const PruneGroup& grp = groups[gi];
    std::set<int64_t> units(removed[gi].begin(), removed[gi].end());
    if (units.empty()) continue;
    const std::string label = "prune: group " + std::to_string(grp.id) + " '" + grp.name() + "'";
    if (!grp.prunable()) throw Error(label + " cannot be pruned: " + grp.blockers.front());
    if (*units.begin() < 0 || *units.rbegin() >= grp.units)
      throw Error(label + " has " + std::to_string(grp.units) + " units; unit " +
                  std::to_string(*units.begin() < 0 ? *units.begin() : *units.rbegin()) +
                  " does not exist");
    if (static_cast<int64_t>(units.size()) >= grp.units)
      throw Error(label + " would lose all of its " + std::to_string(grp.units) +
                  " units; keep at least one");
    for (const PruneMember& m : grp.members) {
      const Value* v = graph.find_value(m.value);
      if (!v || size_of(v, m.axis) != m.size)
        throw Error(label + " does not match the graph: value '" + m.value + "' " +
                    (v ? "has another size on axis " + std::to_string(m.axis) : "is missing") +
                    " (find the groups on this graph)");
      std::set<int64_t>& dst = rm[{m.value, m.axis}];
      for (int64_t u : units)
        for (int64_t i : m.units[static_cast<size_t>(u)])
          dst.insert(i);
    }
  }
  if (rm.empty()) return;

  // Remember the activations' sizes to check the rewrite against shape inference.
  std::map<DimKey, int64_t> expected;
  for (const auto& [key, gone] : rm) {
    const Value* v = graph.find_value(key.first);
    if (!constant_value(v))
      expected[key] = size_of(v, key.second) - static_cast<int64_t>(gone.size());
  }

  fix_nodes(graph, rm);

  std::map<std::string, std::map<int, std::set<int64_t>>> per_constant;
  for (const auto& [key, gone] : rm) {
    const Value* v = graph.find_value(key.first);
    if (constant_value(v)) per_constant[key.first][key.second] = gone;
  }
  for (const auto& [name, axes] : per_constant)
    slice_constant(graph, graph.find_value(name), axes);

  infer_shapes(graph);
  for (const auto& [key, size] : expected) {
    const Value* v = graph.find_value(key.first);
    const int64_t got = size_of(v, key.second);
    if (got != size)
      throw Error("prune: after the rewrite, axis " + std::to_string(key.second) + " of '" +
                  key.first + "' has size " + std::to_string(got) + ", expected " +
                  std::to_string(size) + " (an op rule is wrong; please report)");
  }
}

} // namespace shrink
