#include "shrink/io/onnx.h"

#include "onnx_internal.h"
#include "shrink/core/error.h"
#include "shrink/io/files.h"
#include "shrink/ir/op_table.h"
#include "shrink/ir/shape_inference.h"
#include "shrink/ir/verifier.h"

#include <algorithm>
#include <cmath>

#ifndef SHRINK_VERSION_STRING
#define SHRINK_VERSION_STRING "0.0.0"
#endif

namespace shrink {

using namespace onnx_detail;

namespace {

constexpr double kPi = 3.14159265358979323846;

std::string node_label(const Node& n) {
  return "node '" + n.name() + "' (" + n.op() + ")";
}

bool is_reduce_with_axes_input_from_18(const std::string& op) {
  return op == "ReduceMean" || op == "ReduceMax" || op == "ReduceMin";
}

// The dimension `axis` of `v` when it is known.
std::optional<int64_t> known_dim(const Value* v, int64_t axis) {
  if (!v || !v->type().ranked()) return std::nullopt;
  int64_t rank = v->type().rank();
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return std::nullopt;
  const Dim& d = (*v->type().dims)[axis];
  if (!d.is_known()) return std::nullopt;
  return d.value;
}

// The oldest opset at which `n` can be written, and why, when that is newer than 13.
int needed_opset(const Node& n, std::string& why) {
  const std::string& op = n.op();
  if (op == "LayerNormalization") {
    why = "LayerNormalization exists from opset 17";
    return 17;
  }
  if (op == "HardSwish" || op == "Trilu") {
    why = op + " exists from opset 14";
    return 14;
  }
  if (op == "Shape" && (n.has_attr("start") || n.has_attr("end"))) {
    why = "Shape's start and end attributes exist from opset 15";
    return 15;
  }
  if (op == "Reshape" && n.attr_int("allowzero", 0) != 0) {
    why = "Reshape's allowzero exists from opset 14";
    return 14;
  }
  if (op == "BatchNormalization" && n.attr_int("training_mode", 0) != 0) {
    why = "BatchNormalization's training_mode exists from opset 14";
    return 14;
  }
  if ((op == "QuantizeLinear" || op == "DequantizeLinear") && n.attr_int("block_size", 0) != 0) {
    why = "blocked quantization (block_size) exists from opset 21";
    return 21;
  }
  if (is_reduce_with_axes_input_from_18(op)) {
    if (n.input(1) && !constant_value(n.input(1))) {
      why = op + " with computed axes (an axes input that is not a constant) needs opset 18";
      return 18;
    }
    if (n.attr_int("noop_with_empty_axes", 0) != 0) {
      why = op + "'s noop_with_empty_axes exists from opset 18";
      return 18;
    }
  }
  if (op == "Split" && n.has_attr("num_outputs") && !n.input(1) &&
      !known_dim(n.input(0), n.attr_int("axis", 0))) {
    why = "Split with num_outputs over a dimension of unknown size needs opset 18";
    return 18;
  }
  if (op == "Pad" && n.input(3)) {
    why = "Pad's axes input exists from opset 18";
    return 18;
  }
  if (op == "Resize" && (n.attr_int("antialias", 0) != 0 || n.has_attr("axes") ||
                         n.attr_string("keep_aspect_ratio_policy", "stretch") != "stretch")) {
    why = "Resize's antialias, axes and keep_aspect_ratio_policy exist from opset 18";
    return 18;
  }
  return kOnnxMinExportOpset;
}

// Clones, verifies and re-infers shapes, so that export works from accurate types without
// touching the caller's graph.
Graph prepare(const Graph& graph) {
  verify_or_throw(graph);
  Graph g = graph.clone();
  infer_shapes(g);
  return g;
}

int choose_opset(const Graph& g, int requested) {
  if (requested != 0 && (requested < kOnnxMinExportOpset || requested > kOnnxMaxExportOpset))
    throw Error("cannot export ONNX opset " + std::to_string(requested) +
                ": shrink writes opsets " + std::to_string(kOnnxMinExportOpset) + " to " +
                std::to_string(kOnnxMaxExportOpset) + " (0 picks one)");
  int needed = kOnnxMinExportOpset;
  std::string why;
  const Node* culprit = nullptr;
  for (const Node* n : g.nodes()) {
    if (!find_op(n->op()))
      throw UnsupportedError("cannot export graph '" + g.name() + "' to ONNX:",
                             {"op '" + n->op() + "' (node '" + n->name() +
                              "') is not in the op "
                              "table"});
    std::string w;
    int need = needed_opset(*n, w);
    if (need > needed) {
      needed = need;
      why = w;
      culprit = n;
    }
  }
  if (requested == 0) return std::max(needed, kOnnxDefaultExportOpset);
  if (needed > requested)
    throw Error("cannot export graph '" + g.name() + "' at ONNX opset " +
                std::to_string(requested) + ": " + node_label(*culprit) + " needs opset " +
                std::to_string(needed) + " (" + why + "); export with opset " +
                std::to_string(needed) + " or newer, or leave the opset to shrink");
  return requested;
}

// Rewrites the prepared clone into the operator forms that `opset` defines: attributes that
// became inputs (and back), attributes the opset does not know, and Gelu before opset 20.
class Legalizer {
public:
  Legalizer(Graph& g, int opset) : g_(g), opset_(opset) {}

  void run() {
    for (Node* n : g_.nodes())
      legalize(n);
  }

private:
  Value* constant(const Node* n, const std::string& suffix, Tensor t) {
    return g_.add_initializer(g_.fresh_name(n->name() + "_" + suffix), std::move(t));
  }

  Value* i64_list(const Node* n, const std::string& suffix, const std::vector<int64_t>& v) {
    return constant(n, suffix, Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v));
  }

  // A scalar of the element type of `like` (f32 when unknown), for Clip bounds and Pad values.
  Value* scalar_like(const Node* n, const std::string& suffix, float v, const Value* like) {
    DType dtype = like ? like->type().dtype : DType::f32;
    return constant(n, suffix, Tensor::scalar(v).cast(dtype));
  }

  void set_slot(Node* n, int index, Value* v) {
    while (n->num_inputs() <= index)
      g_.add_input_to(n, nullptr);
    g_.set_input(n, index, v);
  }

  void attr_to_input(Node* n, const std::string& attr, int index) {
    if (!n->has_attr(attr)) return;
    if (n->input(index))
      throw Error("cannot export " + node_label(*n) + " to ONNX: it has both the attribute '" +
                  attr + "' and input " + std::to_string(index) + "; keep one of them");
    std::vector<int64_t> values = n->attr_ints(attr);
    n->remove_attr(attr);
    set_slot(n, index, i64_list(n, attr, values));
  }

  void drop_if_default(Node* n, const std::string& attr, int64_t def, int since) {
    if (opset_ < since && n->has_attr(attr) && n->attr_int(attr, def) == def) n->remove_attr(attr);
  }

  void legalize(Node* n) {
    const std::string& op = n->op();
    if (op == "Squeeze" || op == "Unsqueeze" || op == "ReduceSum") {
      attr_to_input(n, "axes", 1);
    } else if (is_reduce_with_axes_input_from_18(op)) {
      if (opset_ >= 18) {
        attr_to_input(n, "axes", 1);
      } else {
        drop_if_default(n, "noop_with_empty_axes", 0, 18);
        if (n->input(1)) {
          const Tensor* axes = constant_value(n->input(1));
          std::vector<int64_t> values;
          for (double d : axes->to_doubles())
            values.push_back(static_cast<int64_t>(d));
          Value* input = n->input(1);
          g_.set_input(n, 1, nullptr);
          if (input->uses().empty() && !g_.is_output(input) && input->is_initializer())
            g_.erase_value(input);
          // An empty axes list means "reduce everything", which is the absent attribute.
          if (!values.empty()) n->set_attr("axes", values);
        }
      }
    } else if (op == "Split") {
      attr_to_input(n, "split", 1);
      if (opset_ < 18 && n->has_attr("num_outputs")) {
        int64_t parts = n->attr_int("num_outputs", 1);
        n->remove_attr("num_outputs");
        int64_t size = *known_dim(n->input(0), n->attr_int("axis", 0));
        // Opset 18 gives every part ceil(size / parts) and the last one the rest; older opsets
        // split evenly, so uneven splits are spelled out.
        if (parts > 0 && size % parts != 0) {
          int64_t chunk = (size + parts - 1) / parts;
          std::vector<int64_t> sizes;
          for (int64_t left = size; left > 0; left -= chunk)
            sizes.push_back(std::min(chunk, left));
          set_slot(n, 1, i64_list(n, "split", sizes));
        }
      }
    } else if (op == "Slice") {
      attr_to_input(n, "starts", 1);
      attr_to_input(n, "ends", 2);
      attr_to_input(n, "axes", 3);
    } else if (op == "Pad") {
      attr_to_input(n, "pads", 1);
      if (n->has_attr("value")) {
        float v = n->attr_float("value", 0.0f);
        n->remove_attr("value");
        if (!n->input(2)) set_slot(n, 2, scalar_like(n, "value", v, n->input(0)));
      }
    } else if (op == "Clip") {
      for (auto [attr, index] : {std::pair<const char*, int>{"min", 1}, {"max", 2}}) {
        if (!n->has_attr(attr)) continue;
        float v = n->attr_float(attr, 0.0f);
        n->remove_attr(attr);
        set_slot(n, index, scalar_like(n, attr, v, n->input(0)));
      }
    } else if (op == "Dropout") {
      if (n->has_attr("ratio")) {
        float v = n->attr_float("ratio", 0.5f);
        n->remove_attr("ratio");
        set_slot(n, 1, constant(n, "ratio", Tensor::scalar(v)));
      }
    } else if (op == "Cast") {
      // saturate only affects float8 targets, which the IR does not have.
      if (opset_ < 19) n->remove_attr("saturate");
    } else if (op == "QuantizeLinear" || op == "DequantizeLinear") {
      if (opset_ < 19) n->remove_attr("saturate");
      drop_if_default(n, "block_size", 0, 21);
    } else if (op == "BatchNormalization") {
      if (n->has_attr("spatial")) {
        if (n->attr_int("spatial", 1) != 1)
          throw Error("cannot export " + node_label(*n) +
                      " to ONNX: spatial=0 was removed in opset 9 and cannot be written");
        n->remove_attr("spatial");
      }
      drop_if_default(n, "training_mode", 0, 14);
    } else if (op == "Reshape") {
      drop_if_default(n, "allowzero", 0, 14);
    } else if (op == "Resize") {
      drop_if_default(n, "antialias", 0, 18);
      if (opset_ < 18 && n->attr_string("keep_aspect_ratio_policy", "stretch") == "stretch")
        n->remove_attr("keep_aspect_ratio_policy");
    } else if (op == "Gelu" && opset_ < 20) {
      expand_gelu(n);
    }
  }

  // Gelu joined the default domain in opset 20; before that it is written as its formula.
  void expand_gelu(Node* n) {
    Value* x = n->input(0);
    const std::string base = n->name();
    auto c = [&](const char* suffix, double v) {
      return scalar_like(n, suffix, static_cast<float>(v), x);
    };
    auto op = [&](const char* type, std::vector<Value*> in, const char* suffix) {
      return g_.add_op(type, in, {}, g_.fresh_name(base + "_" + suffix), n);
    };
    Value* inner;
    if (n->attr_string("approximate", "none") == "tanh") {
      Value* x3 = op("Mul", {op("Mul", {x, x}, "sq"), x}, "cube");
      Value* t = op("Add", {x, op("Mul", {x3, c("coef", 0.044715)}, "scaled_cube")}, "poly");
      Value* u = op("Mul", {t, c("sqrt_2_over_pi", std::sqrt(2.0 / kPi))}, "arg");
      inner = op("Tanh", {u}, "tanh");
    } else {
      inner = op("Erf", {op("Div", {x, c("sqrt2", std::sqrt(2.0))}, "scaled")}, "erf");
    }
    Value* one_plus = op("Add", {inner, c("one", 1.0)}, "one_plus");
    Value* y = op("Mul", {op("Mul", {x, one_plus}, "x_times"), c("half", 0.5)}, "out");
    Value* old = n->output(0);
    std::string name = old->name();
    g_.replace_all_uses(old, y);
    g_.erase(n);
    g_.rename(y, name);
  }

  Graph& g_;
  int opset_;
};

void set_type(const TensorType& type, onnx::TypeProto* proto) {
  auto* tt = proto->mutable_tensor_type();
  tt->set_elem_type(onnx_dtype(type.dtype));
  if (!type.ranked()) return;
  auto* shape = tt->mutable_shape();
  for (const Dim& d : *type.dims) {
    auto* dim = shape->add_dim();
    if (d.is_known())
      dim->set_dim_value(d.value);
    else if (d.is_symbolic())
      dim->set_dim_param(d.symbol);
  }
}

void set_attribute(const std::string& name, const Attribute& value, onnx::AttributeProto* a) {
  a->set_name(name);
  using AP = onnx::AttributeProto;
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          a->set_type(AP::INT);
          a->set_i(v);
        } else if constexpr (std::is_same_v<T, float>) {
          a->set_type(AP::FLOAT);
          a->set_f(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          a->set_type(AP::STRING);
          a->set_s(v);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          a->set_type(AP::INTS);
          for (int64_t x : v)
            a->add_ints(x);
        } else if constexpr (std::is_same_v<T, std::vector<float>>) {
          a->set_type(AP::FLOATS);
          for (float x : v)
            a->add_floats(x);
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          a->set_type(AP::STRINGS);
          for (const auto& x : v)
            a->add_strings(x);
        } else {
          a->set_type(AP::TENSOR);
          tensor_to_proto(v, "", a->mutable_t());
        }
      },
      value);
}

void add_value_info(const Value* v,
                    google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list) {
  auto* vi = list->Add();
  vi->set_name(v->name());
  set_type(v->type(), vi->mutable_type());
}

onnx::ModelProto to_model(const Graph& g, int opset, bool value_info) {
  onnx::ModelProto model;
  model.set_ir_version(onnx_ir_version_for_opset(opset));
  model.set_producer_name("shrink");
  model.set_producer_version(SHRINK_VERSION_STRING);
  auto* os = model.add_opset_import();
  os->set_domain("");
  os->set_version(opset);
  auto* gp = model.mutable_graph();
  gp->set_name(g.name());

  for (const Value* v : g.initializers())
    tensor_to_proto(v->initializer(), v->name(), gp->add_initializer());
  for (const Value* v : g.inputs())
    add_value_info(v, gp->mutable_input());
  for (const Node* n : g.nodes()) {
    auto* np = gp->add_node();
    np->set_name(n->name());
    np->set_op_type(n->op());
    int last = n->num_inputs();
    // Absent trailing inputs are dropped: an op with fewer declared inputs rejects even "".
    while (last > 0 && !n->input(last - 1))
      --last;
    for (int i = 0; i < last; ++i)
      np->add_input(n->input(i) ? n->input(i)->name() : "");
    for (const Value* out : n->outputs())
      np->add_output(out->name());
    for (const auto& [name, value] : n->attrs())
      set_attribute(name, value, np->add_attribute());
    if (value_info)
      for (const Value* out : n->outputs())
        if (!g.is_output(out) && out->type().ranked())
          add_value_info(out, gp->mutable_value_info());
  }
  for (const Value* v : g.outputs())
    add_value_info(v, gp->mutable_output());
  return model;
}

} // namespace

int onnx_ir_version_for_opset(int opset) {
  if (opset <= 8) return 3;
  if (opset == 9) return 4;
  if (opset == 10) return 5;
  if (opset == 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

int onnx_export_opset(const Graph& graph, const OnnxExportOptions& options) {
  return choose_opset(prepare(graph), options.opset);
}

std::string save_onnx_to_string(const Graph& graph, const OnnxExportOptions& options) {
  Graph g = prepare(graph);
  int opset = choose_opset(g, options.opset);
  Legalizer(g, opset).run();
  infer_shapes(g);
  onnx::ModelProto model = to_model(g, opset, options.value_info);
  std::string bytes;
  if (!model.SerializeToString(&bytes))
    throw Error("cannot serialize graph '" + g.name() +
                "' to ONNX: the model is larger than "
                "protobuf's 2 GiB limit (" +
                std::to_string(g.parameter_bytes()) + " bytes of weights)");
  return bytes;
}

void save_onnx(const Graph& graph, const std::string& path, const OnnxExportOptions& options) {
  write_file_atomically(path, save_onnx_to_string(graph, options));
}

} // namespace shrink
