#include "shrink/io/onnx.h"

#include "onnx_internal.h"
#include "shrink/core/error.h"
#include "shrink/io/files.h"
#include "shrink/ir/op_table.h"
#include "shrink/ir/shape_inference.h"
#include "shrink/ir/verifier.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <queue>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace shrink {

using namespace onnx_detail;

namespace {

bool is_default_domain(const std::string& domain) {
  return domain.empty() || domain == "ai.onnx";
}

std::string quote_list(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i ? ", '" : "'") + names[i] + "'";
  return out;
}

// Ops that are not in the op table but that the importer rewrites into ops that are.
bool rewritten_on_import(const std::string& op) {
  return op == "Upsample";
}

// ONNX leaves the attribute type unset in some old models; it is then implied by the field set.
onnx::AttributeProto::AttributeType attribute_type(const onnx::AttributeProto& a) {
  if (a.type() != onnx::AttributeProto::UNDEFINED) return a.type();
  if (a.has_f()) return onnx::AttributeProto::FLOAT;
  if (a.has_i()) return onnx::AttributeProto::INT;
  if (a.has_s()) return onnx::AttributeProto::STRING;
  if (a.has_t()) return onnx::AttributeProto::TENSOR;
  if (a.has_g()) return onnx::AttributeProto::GRAPH;
  if (a.floats_size()) return onnx::AttributeProto::FLOATS;
  if (a.ints_size()) return onnx::AttributeProto::INTS;
  if (a.strings_size()) return onnx::AttributeProto::STRINGS;
  if (a.tensors_size()) return onnx::AttributeProto::TENSORS;
  if (a.graphs_size()) return onnx::AttributeProto::GRAPHS;
  return onnx::AttributeProto::UNDEFINED;
}

std::optional<AttrKind> schema_attr_kind(const OpSchema& schema, const std::string& name) {
  for (const auto& [n, k] : schema.attrs)
    if (n == name) return k;
  return std::nullopt;
}

// Turns one ONNX model into a Graph. Checking (everything unsupported, collected at once) runs
// before building, so that a model with one unsupported op does not first fail on a later,
// unrelated problem.
class Importer {
public:
  Importer(const onnx::ModelProto& model, std::string source, std::string external_dir)
      : model_(model), graph_proto_(model.graph()), source_(std::move(source)),
        external_dir_(std::move(external_dir)) {}

  Graph run() {
    read_opset();
    name_nodes();
    check_supported();
    build();
    finish();
    return std::move(graph_);
  }

private:
  [[noreturn]] void corrupt(const std::string& problem) const {
    throw Error("ONNX model '" + source_ + "': " + problem +
                "; the model is corrupt or truncated, re-export it");
  }

  std::string node_label(int i) const {
    return "node '" + node_names_[i] + "' (" + graph_proto_.node(i).op_type() + ")";
  }

  void read_opset() {
    bool found = false;
    for (const auto& os : model_.opset_import()) {
      if (is_default_domain(os.domain())) {
        opset_ = static_cast<int>(os.version());
        found = true;
      } else {
        domain_opsets_[os.domain()] = static_cast<int>(os.version());
      }
    }
    if (!found) corrupt("it declares no opset for the default ONNX domain (opset_import is empty)");
    if (opset_ < kOnnxMinImportOpset || opset_ > kOnnxMaxImportOpset)
      items_.push_back(
          "opset " + std::to_string(opset_) + " of the default domain (shrink reads opsets " +
          std::to_string(kOnnxMinImportOpset) + " to " + std::to_string(kOnnxMaxImportOpset) +
          "; convert the model with onnx.version_converter.convert_version(model, "
          "17))");
  }

  // ONNX node names may be empty or repeated; IR node names must be unique. A name keeps its
  // ONNX spelling when it is the first of its kind; others get `<name or op>_<k>`, avoiding
  // every name the model uses so that the result does not depend on node order elsewhere.
  void name_nodes() {
    std::unordered_set<std::string> original;
    for (const auto& n : graph_proto_.node())
      if (!n.name().empty()) original.insert(n.name());
    std::unordered_set<std::string> taken;
    std::map<std::string, int> counters;
    for (const auto& n : graph_proto_.node()) {
      std::string name = n.name();
      if (name.empty() || taken.count(name)) {
        std::string base = name;
        if (base.empty()) {
          base = n.op_type();
          for (char& c : base)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          if (base.empty()) base = "node";
        }
        int& k = counters[base];
        do {
          name = base + "_" + std::to_string(k++);
        } while (taken.count(name) || original.count(name));
      }
      taken.insert(name);
      node_names_.push_back(name);
    }
  }

  void check_type(const onnx::TypeProto& type, const std::string& what) {
    if (!type.has_tensor_type()) {
      items_.push_back(what + " is not a tensor (sequences, maps and optionals are not supported)");
      return;
    }
    int et = type.tensor_type().elem_type();
    if (et != 0 && !supported_dtype(et))
      items_.push_back(what + " has element type " + onnx_type_name(et));
  }

  void check_supported() {
    // op key -> names of the nodes, in first-seen order.
    std::vector<std::pair<std::string, std::vector<std::string>>> ops;
    std::map<std::string, size_t> op_index;
    auto add_op = [&](const std::string& key, const std::string& node) {
      auto it = op_index.find(key);
      if (it == op_index.end()) {
        op_index[key] = ops.size();
        ops.push_back({key, {node}});
      } else {
        ops[it->second].second.push_back(node);
      }
    };
    std::vector<std::string> detail_items;

    for (int i = 0; i < graph_proto_.node_size(); ++i) {
      const auto& n = graph_proto_.node(i);
      std::string subgraph_attr;
      for (const auto& a : n.attribute()) {
        auto t = attribute_type(a);
        if (t == onnx::AttributeProto::GRAPH || t == onnx::AttributeProto::GRAPHS)
          subgraph_attr = a.name();
      }
      if (!is_default_domain(n.domain())) {
        add_op(n.domain() + "\x1f" + n.op_type(), node_names_[i]);
        continue;
      }
      const OpSchema* schema = find_op(n.op_type());
      if (!schema && !rewritten_on_import(n.op_type())) {
        add_op(std::string("\x1f") + n.op_type() + (subgraph_attr.empty() ? "" : "\x1e"),
               node_names_[i]);
        continue;
      }
      if (!subgraph_attr.empty()) {
        detail_items.push_back("subgraph attribute '" + subgraph_attr + "' of " + node_label(i) +
                               " (control flow is not supported)");
        continue;
      }
      if (!schema) continue;
      for (const auto& a : n.attribute()) {
        auto t = attribute_type(a);
        auto kind = schema_attr_kind(*schema, a.name());
        if (!kind) {
          detail_items.push_back("attribute '" + a.name() + "' of " + node_label(i));
          continue;
        }
        if (t == onnx::AttributeProto::TENSOR && !supported_dtype(a.t().data_type()))
          detail_items.push_back("attribute '" + a.name() + "' of " + node_label(i) +
                                 " is a tensor of element type " +
                                 onnx_type_name(a.t().data_type()));
        if (t == onnx::AttributeProto::SPARSE_TENSOR || t == onnx::AttributeProto::TENSORS ||
            t == onnx::AttributeProto::SPARSE_TENSORS || t == onnx::AttributeProto::TYPE_PROTO ||
            t == onnx::AttributeProto::TYPE_PROTOS)
          detail_items.push_back("attribute '" + a.name() + "' of " + node_label(i) + " has kind " +
                                 onnx::AttributeProto::AttributeType_Name(t));
      }
      if (n.op_type() == "Cast") {
        for (const auto& a : n.attribute())
          if (a.name() == "to" && !supported_dtype(static_cast<int>(a.i())))
            detail_items.push_back(node_label(i) + " casts to " +
                                   onnx_type_name(static_cast<int>(a.i())));
      }
    }

    for (const auto& [key, nodes] : ops) {
      size_t sep = key.find('\x1f');
      std::string domain = key.substr(0, sep);
      std::string op = key.substr(sep + 1);
      bool control_flow = !op.empty() && op.back() == '\x1e';
      if (control_flow) op.pop_back();
      std::string item = "op '" + op + "'";
      if (!domain.empty()) item += " of domain '" + domain + "'";
      item += " (node" + std::string(nodes.size() > 1 ? "s " : " ") + quote_list(nodes) + ")";
      if (domain.empty()) {
        item += ", opset " + std::to_string(opset_);
      } else {
        auto it = domain_opsets_.find(domain);
        item += it == domain_opsets_.end()
                    ? ", a domain the model does not declare"
                    : ", opset " + std::to_string(it->second) + " of that domain";
      }
      if (control_flow) item += " (control flow with subgraphs is not supported)";
      items_.push_back(item);
    }
    items_.insert(items_.end(), detail_items.begin(), detail_items.end());

    for (const auto& t : graph_proto_.initializer())
      if (!supported_dtype(t.data_type()))
        items_.push_back("initializer '" + t.name() + "' has element type " +
                         onnx_type_name(t.data_type()));
    for (const auto& t : graph_proto_.sparse_initializer())
      items_.push_back("sparse initializer '" + t.values().name() + "'");
    for (const auto& v : graph_proto_.input())
      check_type(v.type(), "input '" + v.name() + "'");
    for (const auto& v : graph_proto_.output())
      check_type(v.type(), "output '" + v.name() + "'");
    for (const auto& v : graph_proto_.value_info())
      check_type(v.type(), "value '" + v.name() + "'");

    if (!items_.empty())
      throw UnsupportedError("ONNX model '" + source_ + "' uses " + std::to_string(items_.size()) +
                                 " thing" + (items_.size() == 1 ? "" : "s") +
                                 " shrink does not support; remove or replace them before "
                                 "import:",
                             items_);
  }

  // ---- building ------------------------------------------------------------------------------

  // A value name that neither the model nor the graph uses yet.
  std::string fresh_value_name(const std::string& base) {
    for (;;) {
      std::string name = base + "_" + std::to_string(fresh_counter_++);
      if (!reserved_.count(name) && !graph_.find_value(name)) return name;
    }
  }

  TensorType type_from_proto(const onnx::TypeProto& tp) const {
    const auto& tt = tp.tensor_type();
    TensorType type;
    type.dtype = tt.elem_type() ? *supported_dtype(tt.elem_type()) : DType::f32;
    if (!tt.has_shape()) return type;
    std::vector<Dim> dims;
    for (const auto& d : tt.shape().dim()) {
      if (d.has_dim_value() && d.dim_value() >= 0)
        dims.push_back(Dim::known(d.dim_value()));
      else if (d.has_dim_param() && !d.dim_param().empty())
        dims.push_back(Dim::sym(d.dim_param()));
      else
        dims.push_back(Dim::unknown());
    }
    type.dims = std::move(dims);
    return type;
  }

  Attribute convert_attribute(const onnx::AttributeProto& a, const OpSchema& schema, int node) {
    auto kind = schema_attr_kind(schema, a.name());
    switch (attribute_type(a)) {
    case onnx::AttributeProto::INT:
      // Some exporters write integral float attributes (Clip min, Pad value) as INT.
      if (kind == AttrKind::Float) return static_cast<float>(a.i());
      return static_cast<int64_t>(a.i());
    case onnx::AttributeProto::FLOAT:
      return a.f();
    case onnx::AttributeProto::STRING:
      return a.s();
    case onnx::AttributeProto::INTS: {
      if (kind == AttrKind::Floats) return std::vector<float>(a.ints().begin(), a.ints().end());
      return std::vector<int64_t>(a.ints().begin(), a.ints().end());
    }
    case onnx::AttributeProto::FLOATS:
      return std::vector<float>(a.floats().begin(), a.floats().end());
    case onnx::AttributeProto::STRINGS:
      return std::vector<std::string>(a.strings().begin(), a.strings().end());
    case onnx::AttributeProto::TENSOR:
      return tensor_from_proto(a.t(), "attribute '" + a.name() + "' of " + node_label(node),
                               source_, external_dir_);
    default:
      corrupt("attribute '" + a.name() + "' of " + node_label(node) + " has no value");
    }
  }

  // Orders the nodes topologically, keeping the file's order where it is already valid. ONNX
  // requires sorted nodes, but some tools write them unsorted; undefined inputs are reported
  // here, all at once, since they mean a truncated or corrupt model.
  std::vector<int> node_order(const std::unordered_set<std::string>& defined_outside) {
    const int n = graph_proto_.node_size();
    std::unordered_map<std::string, int> producer;
    for (int i = 0; i < n; ++i)
      for (const auto& out : graph_proto_.node(i).output()) {
        if (out.empty()) continue;
        if (defined_outside.count(out))
          corrupt("value '" + out + "' is produced by " + node_label(i) +
                  " and is also a graph input or initializer");
        auto [it, inserted] = producer.emplace(out, i);
        if (!inserted)
          corrupt("value '" + out + "' is produced by both " + node_label(it->second) + " and " +
                  node_label(i));
      }
    std::vector<std::vector<int>> users(n);
    std::vector<int> pending(n, 0);
    std::vector<std::string> undefined;
    for (int i = 0; i < n; ++i) {
      std::set<int> deps;
      for (const auto& in : graph_proto_.node(i).input()) {
        if (in.empty() || defined_outside.count(in)) continue;
        auto it = producer.find(in);
        if (it == producer.end()) {
          undefined.push_back(node_label(i) + " uses '" + in + "'");
          continue;
        }
        deps.insert(it->second);
      }
      for (int d : deps) {
        users[d].push_back(i);
        ++pending[i];
      }
    }
    if (!undefined.empty())
      corrupt("values that nothing in the model defines are used: " + [&] {
        // A truncated model can leave thousands of these; the first few make the point.
        const size_t kShown = 10;
        std::string s;
        for (size_t i = 0; i < undefined.size() && i < kShown; ++i)
          s += (i ? "; " : "") + undefined[i];
        if (undefined.size() > kShown)
          s += "; and " + std::to_string(undefined.size() - kShown) + " more";
        return s;
      }());
    std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
    for (int i = 0; i < n; ++i)
      if (!pending[i]) ready.push(i);
    std::vector<int> order;
    while (!ready.empty()) {
      int i = ready.top();
      ready.pop();
      order.push_back(i);
      for (int u : users[i])
        if (--pending[u] == 0) ready.push(u);
    }
    if (static_cast<int>(order.size()) != n) {
      for (int i = 0; i < n; ++i)
        if (pending[i]) corrupt("the nodes form a cycle through " + node_label(i));
    }
    return order;
  }

  Value* lookup(const std::string& name, int node) {
    Value* v = graph_.find_value(name);
    if (!v) corrupt(node_label(node) + " uses '" + name + "', which is not defined before it");
    return v;
  }

  void add_constant(int i) {
    const auto& n = graph_proto_.node(i);
    if (n.output_size() != 1 || n.output(0).empty())
      corrupt(node_label(i) + " must have exactly one output");
    std::optional<Tensor> value;
    for (const auto& a : n.attribute()) {
      const std::string& k = a.name();
      if (k == "value") {
        value = tensor_from_proto(a.t(), "constant '" + n.output(0) + "' (" + node_label(i) + ")",
                                  source_, external_dir_);
      } else if (k == "value_float") {
        value = Tensor::scalar(a.f());
      } else if (k == "value_floats") {
        value = Tensor::from_vector<float>({static_cast<int64_t>(a.floats_size())},
                                           {a.floats().begin(), a.floats().end()});
      } else if (k == "value_int") {
        value = Tensor::from_vector<int64_t>({}, {a.i()});
      } else if (k == "value_ints") {
        value = Tensor::from_vector<int64_t>({static_cast<int64_t>(a.ints_size())},
                                             {a.ints().begin(), a.ints().end()});
      }
    }
    if (!value) corrupt(node_label(i) + " has no value attribute");
    graph_.add_initializer(n.output(0), std::move(*value));
  }

  // Resize-10 and Upsample-9 take (X, scales) and compute source coordinates as
  // `out / scale` ("asymmetric"); nearest rounding is floor when enlarging and ceil when
  // shrinking (what ONNX Runtime does for these opsets). The IR's Resize is the opset-13+ form
  // with an absent roi input.
  void add_legacy_resize(int i, std::vector<Value*> inputs, Attributes attrs) {
    const auto& n = graph_proto_.node(i);
    if (inputs.size() != 2 || !inputs[1])
      corrupt(node_label(i) + " needs exactly two inputs (X, scales)");
    std::string mode = "nearest";
    if (auto it = attrs.find("mode"); it != attrs.end())
      if (auto* s = std::get_if<std::string>(&it->second)) mode = *s;
    for (char& c : mode)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (mode == "bilinear") mode = "linear";
    Attributes out_attrs{{"mode", mode},
                         {"coordinate_transformation_mode", std::string("asymmetric")}};
    if (mode == "nearest") {
      std::string rounding = "floor";
      if (const Tensor* scales = constant_value(inputs[1])) {
        bool all_down = scales->numel() > 0;
        for (int64_t k = 0; k < scales->numel(); ++k)
          all_down = all_down && scales->at(k) <= 1.0;
        bool any_down = false;
        for (int64_t k = 0; k < scales->numel(); ++k)
          any_down = any_down || scales->at(k) < 1.0;
        if (all_down && any_down) rounding = "ceil";
      }
      out_attrs["nearest_mode"] = rounding;
    }
    Node* node = graph_.add_node("Resize", {inputs[0], nullptr, inputs[1]}, 1, std::move(out_attrs),
                                 node_names_[i]);
    name_outputs(node, n);
  }

  void name_outputs(Node* node, const onnx::NodeProto& n) {
    // Two steps, because a temporary name add_node picked may be the ONNX name of a sibling.
    for (Value* v : node->outputs())
      graph_.rename(v, fresh_value_name("tmp"));
    for (int k = 0; k < node->num_outputs(); ++k) {
      const std::string& want = n.output(k);
      if (want.empty())
        graph_.rename(node->output(k), fresh_value_name(node->name() + "_unused"));
      else if (graph_.find_value(want))
        corrupt("value '" + want + "' is defined twice");
      else
        graph_.rename(node->output(k), want);
    }
  }

  void add_node(int i) {
    const auto& n = graph_proto_.node(i);
    if (n.output_size() == 0) corrupt(node_label(i) + " has no outputs");
    if (n.op_type() == "Constant") {
      add_constant(i);
      return;
    }
    std::vector<Value*> inputs;
    for (const auto& in : n.input())
      inputs.push_back(in.empty() ? nullptr : lookup(in, i));
    // Absent trailing optional inputs carry no meaning; the IR's form has none.
    while (!inputs.empty() && !inputs.back())
      inputs.pop_back();
    int num_outputs = n.output_size();
    while (num_outputs > 1 && n.output(num_outputs - 1).empty())
      --num_outputs;

    const OpSchema* schema = find_op(n.op_type() == "Upsample" ? "Resize" : n.op_type());
    Attributes attrs;
    for (const auto& a : n.attribute())
      attrs[a.name()] = convert_attribute(a, *schema, i);

    if (n.op_type() == "Upsample" || (n.op_type() == "Resize" && opset_ < 11)) {
      add_legacy_resize(i, std::move(inputs), std::move(attrs));
      return;
    }
    bool legacy_softmax = opset_ < 13 && (n.op_type() == "Softmax" || n.op_type() == "LogSoftmax");
    if (legacy_softmax && !attrs.count("axis"))
      attrs["axis"] = int64_t{1}; // the default before opset 13
    Node* node =
        graph_.add_node(n.op_type(), inputs, num_outputs, std::move(attrs), node_names_[i]);
    name_outputs(node, n);
    if (legacy_softmax) legacy_softmax_.push_back(node);
  }

  void build() {
    graph_ = Graph(graph_proto_.name().empty() ? "main" : graph_proto_.name());
    for (const auto& v : graph_proto_.input())
      reserved_.insert(v.name());
    for (const auto& v : graph_proto_.output())
      reserved_.insert(v.name());
    for (const auto& t : graph_proto_.initializer())
      reserved_.insert(t.name());
    for (const auto& n : graph_proto_.node()) {
      reserved_.insert(n.input().begin(), n.input().end());
      reserved_.insert(n.output().begin(), n.output().end());
    }

    std::unordered_set<std::string> defined_outside;
    for (const auto& t : graph_proto_.initializer()) {
      if (t.name().empty()) corrupt("an initializer has no name");
      if (defined_outside.count(t.name()))
        corrupt("initializer '" + t.name() + "' is defined twice");
      defined_outside.insert(t.name());
      graph_.add_initializer(
          t.name(), tensor_from_proto(t, "initializer '" + t.name() + "'", source_, external_dir_));
    }
    // An input with the name of an initializer is, in ONNX, an initializer whose value a caller
    // may override. shrink treats it as the constant: compression needs fixed weights, and
    // models from IR version 3 list every weight as an input this way.
    for (const auto& v : graph_proto_.input()) {
      if (graph_.find_value(v.name()) && graph_.find_value(v.name())->is_initializer()) continue;
      if (v.name().empty()) corrupt("a graph input has no name");
      if (defined_outside.count(v.name()))
        corrupt("graph input '" + v.name() + "' is listed twice");
      defined_outside.insert(v.name());
      graph_.add_input(v.name(), type_from_proto(v.type()));
    }
    for (int i : node_order(defined_outside))
      add_node(i);

    std::vector<Value*> outputs;
    for (const auto& v : graph_proto_.output()) {
      Value* value = graph_.find_value(v.name());
      if (!value)
        corrupt("graph output '" + v.name() + "' is not defined by any node, input or initializer");
      outputs.push_back(value);
    }
    if (outputs.empty()) corrupt("the graph has no outputs");
    graph_.set_outputs(outputs);

    // Declared types are a starting point; shape inference below refines and checks them.
    auto declare = [&](const onnx::ValueInfoProto& vi) {
      Value* v = graph_.find_value(vi.name());
      if (v && !v->is_initializer() && !v->is_graph_input() && vi.type().has_tensor_type() &&
          vi.type().tensor_type().elem_type() != 0)
        v->set_type(type_from_proto(vi.type()));
    };
    for (const auto& vi : graph_proto_.value_info())
      declare(vi);
    for (const auto& vi : graph_proto_.output())
      declare(vi);
  }

  // Softmax and LogSoftmax before opset 13 flatten the input to 2-D at `axis` and normalise
  // over the second dimension. When `axis` is the last dimension that is the IR's (opset-13)
  // meaning; otherwise the node becomes Flatten -> Softmax(axis=-1) -> Reshape(Shape(x)).
  bool rewrite_legacy_softmax() {
    bool changed = false;
    for (Node* node : legacy_softmax_) {
      Value* x = node->input(0);
      int64_t axis = node->attr_int("axis", 1);
      if (x->type().ranked()) {
        int64_t rank = x->type().rank();
        int64_t a = axis < 0 ? axis + rank : axis;
        if (a == rank - 1 || rank == 0) {
          node->set_attr("axis", int64_t{-1});
          continue;
        }
      }
      const std::string base = node->name();
      Value* flat = graph_.add_op("Flatten", {x}, {{"axis", axis}},
                                  graph_.fresh_name(base + "_flatten"), node);
      Value* soft = graph_.add_op(node->op(), {flat}, {{"axis", int64_t{-1}}},
                                  graph_.fresh_name(base + "_2d"), node);
      Value* shape = graph_.add_op("Shape", {x}, {}, graph_.fresh_name(base + "_shape"), node);
      Value* out =
          graph_.add_op("Reshape", {soft, shape}, {}, graph_.fresh_name(base + "_reshape"), node);
      Value* old = node->output(0);
      std::string name = old->name();
      graph_.replace_all_uses(old, out);
      graph_.erase(node);
      graph_.rename(out, name);
      changed = true;
    }
    return changed;
  }

  void finish() {
    try {
      infer_shapes(graph_);
      if (rewrite_legacy_softmax()) infer_shapes(graph_);
    } catch (const UnsupportedError&) {
      throw;
    } catch (const VerifyError&) {
      throw;
    } catch (const Error& e) {
      throw Error("shape inference failed on ONNX model '" + source_ + "': " + e.what());
    }
    verify_or_throw(graph_);
  }

  const onnx::ModelProto& model_;
  const onnx::GraphProto& graph_proto_;
  std::string source_;
  std::string external_dir_;
  int opset_ = 0;
  std::map<std::string, int> domain_opsets_;
  std::vector<std::string> node_names_;
  std::vector<std::string> items_;
  std::unordered_set<std::string> reserved_;
  uint64_t fresh_counter_ = 0;
  std::vector<Node*> legacy_softmax_;
  Graph graph_;
};

std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

} // namespace

Graph load_onnx_from_string(const std::string& bytes, const std::string& source_name,
                            const std::string& external_data_dir) {
  if (bytes.empty())
    throw Error("ONNX model '" + source_name +
                "' is empty (0 bytes): the export or download did not finish; re-export it");
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes))
    throw Error("'" + source_name + "' is not a valid ONNX model: protobuf parsing failed after " +
                "reading " + std::to_string(bytes.size()) +
                " bytes (the file is truncated, corrupt, or not an ONNX model); re-export it");
  if (!model.has_graph() || model.ir_version() <= 0)
    throw Error("'" + source_name + "' is not a valid ONNX model: it has " +
                (model.has_graph() ? "no IR version" : "no graph") +
                " (the file is truncated, corrupt, or not an ONNX model); re-export it");
  return Importer(model, source_name, external_data_dir).run();
}

Graph load_onnx(const std::string& path) {
  return load_onnx_from_string(read_file(path, "ONNX model"), path, parent_dir(path));
}

} // namespace shrink
