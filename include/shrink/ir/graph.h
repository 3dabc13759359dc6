#pragma once
/// \file
/// The tensor-graph IR: a Graph owns Nodes and SSA Values with use-lists.
///
/// Every mutation goes through Graph methods so that use-lists, producers and the graph's
/// version counter stay right. Initializers are Values that hold a constant Tensor; their storage
/// is shared by `clone()`, and passes that change a weight store a new Tensor with
/// `set_initializer` instead of writing into the old one.

#include "shrink/core/tensor.h"
#include "shrink/ir/attribute.h"
#include "shrink/ir/type.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace shrink {

class Graph;
class Node;

/// One use of a Value: input `index` of `node`.
struct Use {
  Node* node;
  int index;
  bool operator==(const Use& o) const { return node == o.node && index == o.index; }
};

/// An SSA value: a graph input, an initializer (constant) or a node output.
class Value {
public:
  /// The unique name within its graph.
  const std::string& name() const { return name_; }
  /// The static type (may be unranked before shape inference).
  const TensorType& type() const { return type_; }
  /// Sets the static type.
  void set_type(TensorType t) { type_ = std::move(t); }
  /// The node that produces this value, or nullptr for inputs and initializers.
  Node* producer() const { return producer_; }
  /// Which output of the producer this is.
  int producer_index() const { return producer_index_; }
  /// Every use by a node input (graph outputs are not uses; see `Graph::is_output`).
  const std::vector<Use>& uses() const { return uses_; }
  /// True when this value is an initializer.
  bool is_initializer() const { return initializer_.has_value(); }
  /// True when this value is one of the graph's inputs.
  bool is_graph_input() const { return is_input_; }
  /// The constant tensor of an initializer; throws `Error` for other values.
  const Tensor& initializer() const;
  /// The graph that owns this value.
  Graph& graph() const { return *graph_; }

private:
  friend class Graph;
  Graph* graph_ = nullptr;
  std::string name_;
  TensorType type_;
  Node* producer_ = nullptr;
  int producer_index_ = -1;
  std::vector<Use> uses_;
  std::optional<Tensor> initializer_;
  bool is_input_ = false;
};

/// An operation. `op` is an ONNX operator name from the op table.
class Node {
public:
  /// The operator name ("Conv", "Relu", ...).
  const std::string& op() const { return op_; }
  /// The unique node name within its graph.
  const std::string& name() const { return name_; }
  /// Inputs in order; an absent optional input is nullptr.
  const std::vector<Value*>& inputs() const { return inputs_; }
  /// Input `i`, or nullptr when absent or out of range.
  Value* input(int i) const {
    return i >= 0 && i < static_cast<int>(inputs_.size()) ? inputs_[i] : nullptr;
  }
  /// Number of input slots (absent optional ones included).
  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  /// Outputs in order.
  const std::vector<Value*>& outputs() const { return outputs_; }
  /// Output `i` (default the first).
  Value* output(int i = 0) const { return outputs_.at(i); }
  /// Number of outputs.
  int num_outputs() const { return static_cast<int>(outputs_.size()); }

  /// All attributes.
  const Attributes& attrs() const { return attrs_; }
  /// True when the attribute is present.
  bool has_attr(const std::string& key) const { return attrs_.count(key) != 0; }
  /// Sets (adds or replaces) an attribute.
  void set_attr(const std::string& key, Attribute value);
  /// Removes an attribute if present.
  void remove_attr(const std::string& key) { attrs_.erase(key); }
  /// Integer attribute or `def`; throws `Error` naming the node when present with another kind.
  int64_t attr_int(const std::string& key, int64_t def) const;
  /// Float attribute or `def` (an int attribute is accepted and converted).
  float attr_float(const std::string& key, float def) const;
  /// String attribute or `def`.
  std::string attr_string(const std::string& key, const std::string& def) const;
  /// Integer-list attribute or `def`.
  std::vector<int64_t> attr_ints(const std::string& key, std::vector<int64_t> def = {}) const;
  /// Float-list attribute or `def`.
  std::vector<float> attr_floats(const std::string& key, std::vector<float> def = {}) const;
  /// Tensor attribute; throws `Error` when absent.
  const Tensor& attr_tensor(const std::string& key) const;

  /// The graph that owns this node.
  Graph& graph() const { return *graph_; }

private:
  friend class Graph;
  Graph* graph_ = nullptr;
  std::string op_;
  std::string name_;
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  Attributes attrs_;
};

/// A graph of Nodes over Values. Not copyable; use `clone()`.
class Graph {
public:
  /// An empty graph; `name` is printed as `graph @name(...)`.
  explicit Graph(std::string name = "main");
  ~Graph();
  Graph(Graph&&) noexcept;
  Graph& operator=(Graph&&) noexcept;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  /// The graph's name.
  const std::string& name() const { return name_; }
  /// Renames the graph.
  void set_name(std::string n) { name_ = std::move(n); }

  /// Adds a graph input. Throws `Error` when the name is taken.
  Value* add_input(const std::string& name, TensorType type);
  /// Adds an initializer (a constant). An empty name picks a fresh one.
  Value* add_initializer(const std::string& name, Tensor value);
  /// Replaces the tensor of an initializer (type updated from the tensor).
  void set_initializer(Value* value, Tensor tensor);
  /// Adds a node at the end (or before `before`) with fresh output values. An empty name picks a
  /// fresh one. Output types start unranked f32; run shape inference to set them.
  Node* add_node(const std::string& op, const std::vector<Value*>& inputs, int num_outputs = 1,
                 Attributes attrs = {}, const std::string& name = "", Node* before = nullptr);
  /// Convenience for single-output nodes: adds the node and returns its output.
  Value* add_op(const std::string& op, const std::vector<Value*>& inputs, Attributes attrs = {},
                const std::string& name = "", Node* before = nullptr);

  /// Graph inputs in order.
  const std::vector<Value*>& inputs() const { return inputs_; }
  /// Graph outputs in order.
  const std::vector<Value*>& outputs() const { return outputs_; }
  /// Sets the graph outputs.
  void set_outputs(std::vector<Value*> outputs);
  /// Replaces output slot `i`.
  void set_output(int i, Value* v);
  /// True when `v` is one of the graph outputs.
  bool is_output(const Value* v) const;
  /// Initializers in insertion order.
  std::vector<Value*> initializers() const;
  /// Nodes in program order (a snapshot: safe to mutate the graph while iterating it).
  std::vector<Node*> nodes() const;
  /// Number of nodes.
  size_t num_nodes() const { return nodes_.size(); }

  /// Sets input `index` of `node` to `v` (nullptr for absent), keeping use-lists right.
  void set_input(Node* node, int index, Value* v);
  /// Appends an input to `node`.
  void add_input_to(Node* node, Value* v);
  /// Makes every use of `from` (node inputs and graph outputs) use `to` instead.
  void replace_all_uses(Value* from, Value* to);
  /// Removes `node`. Its outputs must have no uses and not be graph outputs.
  void erase(Node* node);
  /// Removes an initializer or input that has no uses and is not a graph output.
  void erase_value(Value* v);
  /// Moves `node` to just before `pos`.
  void move_before(Node* node, Node* pos);
  /// Renames a value (the new name must be free).
  void rename(Value* v, const std::string& name);
  /// Renames a node (the new name must be free).
  void rename(Node* n, const std::string& name);

  /// Finds a value by name, or nullptr.
  Value* find_value(const std::string& name) const;
  /// Finds a node by name, or nullptr.
  Node* find_node(const std::string& name) const;
  /// A value or node name not used yet, made from `prefix`.
  std::string fresh_name(const std::string& prefix);

  /// Reorders nodes topologically (stable where possible). Throws `VerifyError` on a cycle.
  void topo_sort();
  /// A structural deep copy; initializer storage is shared, not copied.
  Graph clone() const;
  /// Increases on every mutation; executors use it to know when a cached plan is stale. Values
  /// are unique across all graphs of the process (no two graph states share one).
  uint64_t version() const { return version_; }
  /// Marks the graph changed (for callers that change types or attributes in place).
  void touch();

  /// Total number of elements in all initializers.
  int64_t num_parameters() const;
  /// Total bytes of all initializers.
  int64_t parameter_bytes() const;

private:
  Value* new_value(const std::string& name);
  void add_use(Value* v, Node* n, int index);
  void remove_use(Value* v, Node* n, int index);

  std::string name_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Value>> values_;
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  std::unordered_map<std::string, Value*> value_names_;
  std::unordered_map<std::string, Node*> node_names_;
  uint64_t version_ = 0;
  uint64_t name_counter_ = 0;
};

/// The constant tensor behind `v` when it is an initializer or the output of a `Constant` node
/// with a `value` attribute; nullptr otherwise.
const Tensor* constant_value(const Value* v);

} // namespace shrink
