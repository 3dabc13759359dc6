#include "shrink/exec/reference.h"

#include "shrink/core/error.h"
#include "shrink/ir/graph.h"
#include "shrink/ir/op_table.h"
#include "shrink/ir/verifier.h"

#include <map>
#include <unordered_map>
#include <unordered_set>

namespace shrink {

namespace {

std::string node_label(const Node& node) {
  return "node '" + node.name() + "' (" + node.op() + ")";
}

std::string tensor_type_str(const Tensor& t) {
  return std::string(dtype_name(t.dtype())) + shape_str(t.shape());
}

// Checks the runtime inputs against the graph's input types, binding symbolic dimensions so that
// `N` means the same size in every input.
void check_inputs(const Graph& graph, const std::vector<Tensor>& inputs) {
  const auto& declared = graph.inputs();
  if (inputs.size() != declared.size()) {
    std::string names;
    for (const Value* v : declared)
      names += (names.empty() ? "" : ", ") + ("'" + v->name() + "' " + v->type().str());
    throw Error("graph '" + graph.name() + "' takes " + std::to_string(declared.size()) + " input" +
                (declared.size() == 1 ? "" : "s") + " (" + names + "), got " +
                std::to_string(inputs.size()));
  }
  std::map<std::string, std::pair<int64_t, std::string>> bound; // symbol -> size, where bound
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value* v = declared[i];
    const TensorType& want = v->type();
    const Tensor& got = inputs[i];
    const std::string where = "input " + std::to_string(i) + " '" + v->name() + "'";
    const std::string mismatch = where + " expects " + want.str() + ", got " + tensor_type_str(got);
    if (got.dtype() != want.dtype) throw Error(mismatch);
    if (!want.ranked()) continue;
    if (got.rank() != want.rank()) throw Error(mismatch);
    for (int d = 0; d < got.rank(); ++d) {
      const Dim& dim = (*want.dims)[d];
      const int64_t size = got.shape()[d];
      if (dim.is_known()) {
        if (dim.value != size) throw Error(mismatch);
      } else if (dim.is_symbolic()) {
        auto it = bound.find(dim.symbol);
        if (it == bound.end()) {
          bound[dim.symbol] = {size, where};
        } else if (it->second.first != size) {
          throw Error(mismatch + ": " + dim.symbol + " is " + std::to_string(size) + " here but " +
                      std::to_string(it->second.first) + " in " + it->second.second);
        }
      }
    }
  }
}

// A node output must agree with its static type when the type is ranked; unranked types (before
// shape inference) say nothing to check.
void check_output(const Node& node, const Value* v, const Tensor& t) {
  const TensorType& want = v->type();
  if (!want.ranked()) return;
  bool ok = t.dtype() == want.dtype && t.rank() == want.rank();
  for (int d = 0; ok && d < t.rank(); ++d) {
    const Dim& dim = (*want.dims)[d];
    ok = !dim.is_known() || dim.value == t.shape()[d];
  }
  if (!ok)
    throw Error("while running " + node_label(node) + ": output '" + v->name() + "' is " +
                tensor_type_str(t) + " but its static type is " + want.str() +
                "; the graph's types are stale or wrong (run shape inference again)");
}

std::string strip_node_prefix(const std::string& message, const Node& node) {
  const std::string prefix = node_label(node) + ": ";
  if (message.compare(0, prefix.size(), prefix) == 0) return message.substr(prefix.size());
  return message;
}

std::vector<Tensor> run_node(const Node& node, const std::vector<const Tensor*>& ins) {
  const std::string context = "while running " + node_label(node) + ": ";
  try {
    return evaluate_node(node, ins);
  } catch (const UnsupportedError& e) {
    const std::string what = e.what();
    throw UnsupportedError(context + what.substr(0, what.find('\n')), e.items());
  } catch (const Error& e) {
    throw Error(context + strip_node_prefix(e.what(), node));
  } catch (const std::exception& e) {
    // Foreign failures (allocation) are reported with the node too.
    throw Error(context + e.what());
  }
}

} // namespace

std::vector<Tensor> ReferenceExecutor::run(const Graph& graph, const std::vector<Tensor>& inputs,
                                           const std::vector<std::string>& fetch) {
  std::vector<std::string> problems = verify(graph);
  if (!problems.empty()) throw VerifyError(std::move(problems));
  check_inputs(graph, inputs);

  std::vector<const Value*> fetched;
  for (const std::string& name : fetch) {
    const Value* v = graph.find_value(name);
    if (!v) {
      std::vector<std::string> known;
      for (const Node* n : graph.nodes())
        for (const Value* o : n->outputs())
          known.push_back(o->name());
      for (const Value* i : graph.inputs())
        known.push_back(i->name());
      for (const Value* i : graph.initializers())
        known.push_back(i->name());
      const std::string near = closest_name(name, known);
      throw Error("cannot fetch '" + name + "': graph '" + graph.name() + "' has no such value" +
                  (near.empty() ? std::string() : " (did you mean '" + near + "'?)"));
    }
    fetched.push_back(v);
  }

  const std::vector<Node*> nodes = graph.nodes();
  std::unordered_set<const Value*> keep(graph.outputs().begin(), graph.outputs().end());
  keep.insert(fetched.begin(), fetched.end());
  std::unordered_map<const Value*, size_t> last_use;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const Value* v : nodes[i]->inputs())
      if (v) last_use[v] = i;

  std::unordered_map<const Value*, Tensor> env;
  for (size_t i = 0; i < inputs.size(); ++i)
    env[graph.inputs()[i]] = inputs[i];

  std::vector<const Tensor*> ins;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& node = *nodes[i];
    ins.assign(node.inputs().size(), nullptr);
    for (size_t k = 0; k < node.inputs().size(); ++k) {
      const Value* v = node.inputs()[k];
      if (!v) continue;
      if (v->is_initializer()) {
        ins[k] = &v->initializer();
        continue;
      }
      auto it = env.find(v);
      if (it == env.end())
        throw Error("while running " + node_label(node) + ": input '" + v->name() +
                    "' has no value (it is used before it is computed)");
      ins[k] = &it->second;
    }
    std::vector<Tensor> outs = run_node(node, ins);
    if (static_cast<int>(outs.size()) != node.num_outputs())
      throw Error("while running " + node_label(node) + ": the kernel produced " +
                  std::to_string(outs.size()) + " outputs for " +
                  std::to_string(node.num_outputs()) + " output values");
    for (int k = 0; k < node.num_outputs(); ++k) {
      const Value* v = node.output(k);
      check_output(node, v, outs[k]);
      // Outputs nobody reads (MaxPool indices, Dropout masks) are dropped at once.
      if (v->uses().empty() && !keep.count(v)) continue;
      env[v] = std::move(outs[k]);
    }
    for (const Value* v : node.inputs()) {
      if (!v || v->is_initializer() || keep.count(v)) continue;
      auto lu = last_use.find(v);
      if (lu != last_use.end() && lu->second == i) env.erase(v);
    }
  }

  auto result_of = [&](const Value* v) -> Tensor {
    // Initializers and caller inputs are copied so that writing into a result never changes the
    // graph or the caller's tensors.
    if (v->is_initializer()) return v->initializer().clone();
    auto it = env.find(v);
    if (it == env.end())
      throw Error("graph '" + graph.name() + "': value '" + v->name() + "' was never computed");
    return v->is_graph_input() ? it->second.clone() : it->second;
  };
  std::vector<Tensor> results;
  results.reserve(graph.outputs().size() + fetched.size());
  for (const Value* v : graph.outputs())
    results.push_back(result_of(v));
  for (const Value* v : fetched)
    results.push_back(result_of(v));
  return results;
}

} // namespace shrink
