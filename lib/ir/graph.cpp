#include "shrink/ir/graph.h"

#include "shrink/core/error.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <queue>
#include <unordered_set>

namespace shrink {

// ---- Value / Node -----------------------------------------------------------------------------

const Tensor& Value::initializer() const {
  if (!initializer_) throw Error("value '" + name_ + "' is not an initializer");
  return *initializer_;
}

namespace {

// Versions come from one process-wide counter, so that no two states of any graphs share a
// version: a graph destroyed and another built at the same address (same names, same shared
// initializer storage) cannot be mistaken for the old one by an executor's plan cache, whose
// plans point into the graph they were made for.
uint64_t next_graph_version() {
  static std::atomic<uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}
[[noreturn]] void wrong_kind(const Node& n, const std::string& key, const Attribute& a,
                             const char* want) {
  throw Error("node '" + n.name() + "' (" + n.op() + "): attribute '" + key + "' is " +
              attr_kind_name(attr_kind(a)) + ", expected " + want);
}
} // namespace

void Node::set_attr(const std::string& key, Attribute value) {
  attrs_[key] = std::move(value);
  if (graph_) graph_->touch();
}

int64_t Node::attr_int(const std::string& key, int64_t def) const {
  auto it = attrs_.find(key);
  if (it == attrs_.end()) return def;
  if (auto* v = std::get_if<int64_t>(&it->second)) return *v;
  wrong_kind(*this, key, it->second, "int");
}

float Node::attr_float(const std::string& key, float def) const {
  auto it = attrs_.find(key);
  if (it == attrs_.end()) return def;
  if (auto* v = std::get_if<float>(&it->second)) return *v;
  if (auto* v = std::get_if<int64_t>(&it->second)) return static_cast<float>(*v);
  wrong_kind(*this, key, it->second, "float");
}

std::string Node::attr_string(const std::string& key, const std::string& def) const {
  auto it = attrs_.find(key);
  if (it == attrs_.end()) return def;
  if (auto* v = std::get_if<std::string>(&it->second)) return *v;
  wrong_kind(*this, key, it->second, "string");
}

std::vector<int64_t> Node::attr_ints(const std::string& key, std::vector<int64_t> def) const {
  auto it = attrs_.find(key);
  if (it == attrs_.end()) return def;
  if (auto* v = std::get_if<std::vector<int64_t>>(&it->second)) return *v;
  wrong_kind(*this, key, it->second, "ints");
}

std::vector<float> Node::attr_floats(const std::string& key, std::vector<float> def) const {
  auto it = attrs_.find(key);
  if (it == attrs_.end()) return def;
  if (auto* v = std::get_if<std::vector<float>>(&it->second)) return *v;
  wrong_kind(*this, key, it->second, "floats");
}

const Tensor& Node::attr_tensor(const std::string& key) const {
  auto it = attrs_.find(key);
  if (it == attrs_.end())
    throw Error("node '" + name_ + "' (" + op_ + "): missing tensor attribute '" + key + "'");
  if (auto* v = std::get_if<Tensor>(&it->second)) return *v;
  wrong_kind(*this, key, it->second, "tensor");
}

// ---- Graph ------------------------------------------------------------------------------------

Graph::Graph(std::string name) : name_(std::move(name)), version_(next_graph_version()) {}

void Graph::touch() {
  version_ = next_graph_version();
}
Graph::~Graph() = default;

Graph::Graph(Graph&& o) noexcept {
  *this = std::move(o);
}

Graph& Graph::operator=(Graph&& o) noexcept {
  if (this == &o) return *this;
  name_ = std::move(o.name_);
  nodes_ = std::move(o.nodes_);
  values_ = std::move(o.values_);
  inputs_ = std::move(o.inputs_);
  outputs_ = std::move(o.outputs_);
  value_names_ = std::move(o.value_names_);
  node_names_ = std::move(o.node_names_);
  version_ = next_graph_version();
  name_counter_ = o.name_counter_;
  o.version_ = next_graph_version();
  // Nodes and values point back to their graph: re-point them at the new owner.
  for (auto& n : nodes_)
    n->graph_ = this;
  for (auto& v : values_)
    v->graph_ = this;
  return *this;
}

std::string Graph::fresh_name(const std::string& prefix) {
  std::string base = prefix.empty() ? "v" : prefix;
  if (!value_names_.count(base) && !node_names_.count(base)) return base;
  for (;;) {
    std::string n = base + "_" + std::to_string(name_counter_++);
    if (!value_names_.count(n) && !node_names_.count(n)) return n;
  }
}

Value* Graph::new_value(const std::string& name) {
  if (value_names_.count(name)) throw Error("value name '" + name + "' is already used");
  auto v = std::make_unique<Value>();
  v->graph_ = this;
  v->name_ = name;
  Value* raw = v.get();
  values_.push_back(std::move(v));
  value_names_[name] = raw;
  version_ = next_graph_version();
  return raw;
}

Value* Graph::add_input(const std::string& name, TensorType type) {
  Value* v = new_value(name);
  v->type_ = std::move(type);
  v->is_input_ = true;
  inputs_.push_back(v);
  return v;
}

Value* Graph::add_initializer(const std::string& name, Tensor value) {
  Value* v = new_value(name.empty() ? fresh_name("const") : name);
  v->type_ = TensorType::of(value.dtype(), value.shape());
  v->initializer_ = std::move(value);
  return v;
}

void Graph::set_initializer(Value* v, Tensor tensor) {
  if (!v->initializer_) throw Error("value '" + v->name_ + "' is not an initializer");
  v->type_ = TensorType::of(tensor.dtype(), tensor.shape());
  v->initializer_ = std::move(tensor);
  version_ = next_graph_version();
}

void Graph::add_use(Value* v, Node* n, int index) {
  if (v) v->uses_.push_back(Use{n, index});
}

void Graph::remove_use(Value* v, Node* n, int index) {
  if (!v) return;
  auto it = std::find(v->uses_.begin(), v->uses_.end(), Use{n, index});
  if (it != v->uses_.end()) v->uses_.erase(it);
}

Node* Graph::add_node(const std::string& op, const std::vector<Value*>& inputs, int num_outputs,
                      Attributes attrs, const std::string& name, Node* before) {
  auto node = std::make_unique<Node>();
  Node* n = node.get();
  n->graph_ = this;
  n->op_ = op;
  n->attrs_ = std::move(attrs);
  std::string lower = op;
  for (char& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string base = name.empty() ? fresh_name(lower) : name;
  if (node_names_.count(base)) {
    if (!name.empty()) throw Error("node name '" + name + "' is already used");
    base = fresh_name(lower);
  }
  n->name_ = base;
  for (size_t i = 0; i < inputs.size(); ++i) {
    n->inputs_.push_back(inputs[i]);
    add_use(inputs[i], n, static_cast<int>(i));
  }
  // Outputs are named after the node: the first gets the node's name, later ones a suffix.
  for (int i = 0; i < num_outputs; ++i) {
    std::string vname = i == 0 ? base : base + "_" + std::to_string(i);
    if (value_names_.count(vname)) vname = fresh_name(vname);
    Value* v = new_value(vname);
    v->producer_ = n;
    v->producer_index_ = i;
    n->outputs_.push_back(v);
  }
  node_names_[n->name_] = n;
  if (before) {
    auto it = std::find_if(nodes_.begin(), nodes_.end(),
                           [before](const std::unique_ptr<Node>& p) { return p.get() == before; });
    if (it == nodes_.end()) throw Error("add_node: insertion point is not in this graph");
    nodes_.insert(it, std::move(node));
  } else {
    nodes_.push_back(std::move(node));
  }
  version_ = next_graph_version();
  return n;
}

Value* Graph::add_op(const std::string& op, const std::vector<Value*>& inputs, Attributes attrs,
                     const std::string& name, Node* before) {
  return add_node(op, inputs, 1, std::move(attrs), name, before)->output(0);
}

void Graph::set_outputs(std::vector<Value*> outputs) {
  outputs_ = std::move(outputs);
  version_ = next_graph_version();
}

void Graph::set_output(int i, Value* v) {
  outputs_.at(i) = v;
  version_ = next_graph_version();
}

bool Graph::is_output(const Value* v) const {
  return std::find(outputs_.begin(), outputs_.end(), v) != outputs_.end();
}

std::vector<Value*> Graph::initializers() const {
  std::vector<Value*> out;
  for (const auto& v : values_)
    if (v->initializer_) out.push_back(v.get());
  return out;
}

std::vector<Node*> Graph::nodes() const {
  std::vector<Node*> out;
  out.reserve(nodes_.size());
  for (const auto& n : nodes_)
    out.push_back(n.get());
  return out;
}

void Graph::set_input(Node* node, int index, Value* v) {
  if (index < 0 || index >= node->num_inputs())
    throw Error("node '" + node->name_ + "': input index " + std::to_string(index) +
                " out of range");
  remove_use(node->inputs_[index], node, index);
  node->inputs_[index] = v;
  add_use(v, node, index);
  version_ = next_graph_version();
}

void Graph::add_input_to(Node* node, Value* v) {
  node->inputs_.push_back(v);
  add_use(v, node, node->num_inputs() - 1);
  version_ = next_graph_version();
}

void Graph::replace_all_uses(Value* from, Value* to) {
  if (from == to) return;
  std::vector<Use> uses = from->uses_;
  for (const Use& u : uses)
    set_input(u.node, u.index, to);
  for (auto& o : outputs_)
    if (o == from) o = to;
  version_ = next_graph_version();
}

void Graph::erase(Node* node) {
  for (Value* out : node->outputs_) {
    if (!out->uses_.empty())
      throw Error("cannot erase node '" + node->name_ + "': its output '" + out->name_ +
                  "' is still used by node '" + out->uses_.front().node->name_ + "'");
    if (is_output(out))
      throw Error("cannot erase node '" + node->name_ + "': its output '" + out->name_ +
                  "' is a graph output");
  }
  for (int i = 0; i < node->num_inputs(); ++i)
    remove_use(node->inputs_[i], node, i);
  std::unordered_set<Value*> dead(node->outputs_.begin(), node->outputs_.end());
  for (Value* out : node->outputs_)
    value_names_.erase(out->name_);
  values_.erase(
      std::remove_if(values_.begin(), values_.end(),
                     [&](const std::unique_ptr<Value>& v) { return dead.count(v.get()); }),
      values_.end());
  node_names_.erase(node->name_);
  nodes_.erase(std::find_if(nodes_.begin(), nodes_.end(),
                            [node](const std::unique_ptr<Node>& p) { return p.get() == node; }));
  version_ = next_graph_version();
}

void Graph::erase_value(Value* v) {
  if (v->producer_)
    throw Error("cannot erase value '" + v->name_ + "': it is produced by node '" +
                v->producer_->name_ + "' (erase the node)");
  if (!v->uses_.empty())
    throw Error("cannot erase value '" + v->name_ + "': it is still used by node '" +
                v->uses_.front().node->name_ + "'");
  if (is_output(v)) throw Error("cannot erase value '" + v->name_ + "': it is a graph output");
  if (v->is_input_) inputs_.erase(std::find(inputs_.begin(), inputs_.end(), v));
  value_names_.erase(v->name_);
  values_.erase(std::find_if(values_.begin(), values_.end(),
                             [v](const std::unique_ptr<Value>& p) { return p.get() == v; }));
  version_ = next_graph_version();
}

void Graph::move_before(Node* node, Node* pos) {
  if (node == pos) return;
  auto find = [this](Node* n) {
    return std::find_if(nodes_.begin(), nodes_.end(),
                        [n](const std::unique_ptr<Node>& p) { return p.get() == n; });
  };
  auto it = find(node);
  if (it == nodes_.end()) throw Error("move_before: node is not in this graph");
  std::unique_ptr<Node> owned = std::move(*it);
  nodes_.erase(it);
  auto at = find(pos);
  if (at == nodes_.end()) throw Error("move_before: position is not in this graph");
  nodes_.insert(at, std::move(owned));
  version_ = next_graph_version();
}

void Graph::rename(Value* v, const std::string& name) {
  if (v->name_ == name) return;
  if (value_names_.count(name)) throw Error("value name '" + name + "' is already used");
  value_names_.erase(v->name_);
  v->name_ = name;
  value_names_[name] = v;
  version_ = next_graph_version();
}

void Graph::rename(Node* n, const std::string& name) {
  if (n->name_ == name) return;
  if (node_names_.count(name)) throw Error("node name '" + name + "' is already used");
  node_names_.erase(n->name_);
  n->name_ = name;
  node_names_[name] = n;
  version_ = next_graph_version();
}

Value* Graph::find_value(const std::string& name) const {
  auto it = value_names_.find(name);
  return it == value_names_.end() ? nullptr : it->second;
}

Node* Graph::find_node(const std::string& name) const {
  auto it = node_names_.find(name);
  return it == node_names_.end() ? nullptr : it->second;
}

void Graph::topo_sort() {
  const size_t n = nodes_.size();
  std::unordered_map<const Node*, size_t> index;
  for (size_t i = 0; i < n; ++i)
    index[nodes_[i].get()] = i;
  std::vector<int> pending(n, 0);
  std::vector<std::vector<size_t>> users(n);
  for (size_t i = 0; i < n; ++i) {
    std::unordered_set<const Node*> seen;
    for (Value* in : nodes_[i]->inputs_) {
      if (!in || !in->producer_ || in->producer_->graph_ != this) continue;
      auto it = index.find(in->producer_);
      if (it == index.end() || !seen.insert(in->producer_).second) continue;
      ++pending[i];
      users[it->second].push_back(i);
    }
  }
  // Kahn's algorithm; the min-heap on original position keeps the order stable.
  std::priority_queue<size_t, std::vector<size_t>, std::greater<size_t>> ready;
  for (size_t i = 0; i < n; ++i)
    if (pending[i] == 0) ready.push(i);
  std::vector<size_t> order;
  while (!ready.empty()) {
    size_t i = ready.top();
    ready.pop();
    order.push_back(i);
    for (size_t u : users[i])
      if (--pending[u] == 0) ready.push(u);
  }
  if (order.size() != n) {
    std::vector<std::string> diags;
    for (size_t i = 0; i < n; ++i)
      if (pending[i] > 0)
        diags.push_back("node '" + nodes_[i]->name_ + "' (" + nodes_[i]->op_ +
                        ") is on a cycle or depends on one");
    throw VerifyError(diags);
  }
  std::vector<std::unique_ptr<Node>> sorted(n);
  for (size_t k = 0; k < n; ++k)
    sorted[k] = std::move(nodes_[order[k]]);
  nodes_ = std::move(sorted);
  version_ = next_graph_version();
}

Graph Graph::clone() const {
  Graph g(name_);
  std::unordered_map<const Value*, Value*> map;
  map[nullptr] = nullptr;
  for (const auto& v : values_) {
    Value* c = g.new_value(v->name_);
    c->type_ = v->type_;
    c->initializer_ = v->initializer_;
    c->is_input_ = v->is_input_;
    map[v.get()] = c;
  }
  for (const Value* in : inputs_)
    g.inputs_.push_back(map.at(in));
  for (const auto& n : nodes_) {
    auto node = std::make_unique<Node>();
    Node* c = node.get();
    c->graph_ = &g;
    c->op_ = n->op_;
    c->name_ = n->name_;
    c->attrs_ = n->attrs_;
    for (size_t i = 0; i < n->inputs_.size(); ++i) {
      Value* in = map.at(n->inputs_[i]);
      c->inputs_.push_back(in);
      g.add_use(in, c, static_cast<int>(i));
    }
    for (size_t i = 0; i < n->outputs_.size(); ++i) {
      Value* out = map.at(n->outputs_[i]);
      out->producer_ = c;
      out->producer_index_ = static_cast<int>(i);
      c->outputs_.push_back(out);
    }
    g.node_names_[c->name_] = c;
    g.nodes_.push_back(std::move(node));
  }
  for (const Value* o : outputs_)
    g.outputs_.push_back(map.at(o));
  g.name_counter_ = name_counter_;
  return g;
}

int64_t Graph::num_parameters() const {
  int64_t n = 0;
  for (const auto& v : values_)
    if (v->initializer_) n += v->initializer_->numel();
  return n;
}

int64_t Graph::parameter_bytes() const {
  int64_t n = 0;
  for (const auto& v : values_)
    if (v->initializer_) n += static_cast<int64_t>(v->initializer_->nbytes());
  return n;
}

const Tensor* constant_value(const Value* v) {
  if (!v) return nullptr;
  if (v->is_initializer()) return &v->initializer();
  const Node* p = v->producer();
  if (p && p->op() == "Constant") {
    auto it = p->attrs().find("value");
    if (it != p->attrs().end())
      if (auto* t = std::get_if<Tensor>(&it->second)) return t;
  }
  return nullptr;
}

} // namespace shrink
