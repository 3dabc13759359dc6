// The pybind11 extension `shrink._shrink`: graphs, passes, pipelines, executors, data sets,
// evaluation and recipes. The Python package (bindings/python/shrink) builds the friendly API
// on top: typed pass functions, tqdm progress, HTML summaries and plots.

#include "shrink/core/error.h"
#include "shrink/exec/onednn.h"
#include "shrink/exec/reference.h"
#include "shrink/io/datasets.h"
#include "shrink/io/model.h"
#include "shrink/io/onnx.h"
#include "shrink/ir/dot.h"
#include "shrink/ir/evaluate.h"
#include "shrink/ir/shape_inference.h"
#include "shrink/ir/stats.h"
#include "shrink/ir/text.h"
#include "shrink/ir/verifier.h"
#include "shrink/pass/pass_manager.h"
#include "shrink/pass/registry.h"
#include "shrink/recipe/default_environment.h"
#include "shrink/recipe/recipe.h"
#include "shrink/recipe/runner.h"

#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>

namespace py = pybind11;
using namespace shrink;

namespace {

// ---- tensors <-> numpy ----------------------------------------------------------------------

py::dtype numpy_dtype(DType d) {
  switch (d) {
  case DType::f32:
    return py::dtype::of<float>();
  case DType::f16:
    return py::dtype("float16");
  case DType::i8:
    return py::dtype::of<int8_t>();
  case DType::u8:
    return py::dtype::of<uint8_t>();
  case DType::i32:
    return py::dtype::of<int32_t>();
  case DType::i64:
    return py::dtype::of<int64_t>();
  case DType::boolean:
    return py::dtype::of<bool>();
  case DType::bf16:
    break;
  }
  throw Error("bf16 tensors have no numpy type");
}

// A numpy array that shares the tensor's storage: the capsule keeps a Tensor (and so the storage)
// alive as long as the array.
py::array to_numpy(const Tensor& t) {
  if (t.dtype() == DType::bf16) return to_numpy(t.cast(DType::f32));
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  std::vector<py::ssize_t> strides(shape.size());
  py::ssize_t stride = static_cast<py::ssize_t>(dtype_size(t.dtype()));
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  auto* keep = new Tensor(t);
  py::capsule owner(keep, [](void* p) { delete static_cast<Tensor*>(p); });
  return py::array(numpy_dtype(t.dtype()), shape, strides, const_cast<void*>(keep->raw()), owner);
}

// Copies a numpy array (any strides) into a new tensor. Tensors own 64-byte aligned storage,
// so inputs are copied once; outputs are not (see to_numpy).
Tensor from_numpy(const py::handle& obj) {
  py::array a = py::array::ensure(obj);
  if (!a) throw Error("expected a numpy array (or something numpy.asarray accepts)");
  const char kind = a.dtype().kind();
  const auto size = a.dtype().itemsize();
  DType d;
  if (kind == 'f' && size == 4)
    d = DType::f32;
  else if (kind == 'f' && size == 8) {
    a = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a);
    d = DType::f32;
  } else if (kind == 'f' && size == 2)
    d = DType::f16;
  else if (kind == 'i' && size == 1)
    d = DType::i8;
  else if (kind == 'u' && size == 1)
    d = DType::u8;
  else if (kind == 'i' && size == 4)
    d = DType::i32;
  else if (kind == 'i' && size == 8)
    d = DType::i64;
  else if (kind == 'b')
    d = DType::boolean;
  else
    throw Error(std::string("numpy dtype '") + py::str(a.dtype()).cast<std::string>() +
                "' is not supported: use float32, float16, int8, uint8, int32, int64 or bool");
  a = py::array::ensure(a, py::array::c_style);
  Shape shape(a.shape(), a.shape() + a.ndim());
  Tensor t(d, shape);
  if (t.nbytes()) std::memcpy(t.raw_mutable(), a.data(), t.nbytes());
  return t;
}

std::vector<Tensor> tensors_from(const py::handle& obj) {
  std::vector<Tensor> out;
  if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) {
    for (py::handle item : obj)
      out.push_back(from_numpy(item));
  } else {
    out.push_back(from_numpy(obj));
  }
  return out;
}

py::list to_list(const std::vector<Tensor>& tensors) {
  py::list out;
  for (const Tensor& t : tensors)
    out.append(to_numpy(t));
  return out;
}

// A progress callback into Python, safe to call from C++ work that released the GIL.
ProgressFn python_progress(py::object fn) {
  if (fn.is_none()) return {};
  auto shared = std::make_shared<py::object>(std::move(fn));
  return [shared](int64_t done, int64_t total, const std::string& status) {
    py::gil_scoped_acquire gil;
    (*shared)(done, total, status);
  };
}

// ---- data -------------------------------------------------------------------------------------

// pybind11 holders cannot be pointers to const; sources are never mutated through them.
using DataPtr = std::shared_ptr<DataSource>;

template <typename T> DataPtr hold(std::shared_ptr<T> p) {
  return std::const_pointer_cast<DataSource>(std::shared_ptr<const DataSource>(std::move(p)));
}

py::tuple batch_to_python(const Batch& b) {
  return py::make_tuple(to_list(b.inputs), b.labels ? py::object(to_numpy(*b.labels)) : py::none());
}

// ---- executors --------------------------------------------------------------------------------

struct PyExecutor {
  std::shared_ptr<Executor> impl;
};

// ---- pass context -----------------------------------------------------------------------------

struct ContextArgs {
  DataPtr calibration, train, eval;
  const Graph* teacher = nullptr;
  std::shared_ptr<Executor> executor;
  Trainer* trainer = nullptr;
  uint64_t seed = 0;
  ProgressFn progress;

  PassContext context() const {
    PassContext ctx;
    ctx.calibration = calibration.get();
    ctx.train = train.get();
    ctx.eval = eval.get();
    ctx.teacher = teacher;
    ctx.executor = executor.get();
    ctx.trainer = trainer;
    ctx.seed = seed;
    ctx.progress = progress;
    return ctx;
  }
};

// The trainer comes from the optional torch bridge (torch_bridge.cpp), which registers a
// factory here when it is compiled in.
std::function<Trainer*()>& trainer_factory() {
  static std::function<Trainer*()> f;
  return f;
}

ContextArgs make_context(py::object calibration, py::object train, py::object eval,
                         const Graph* teacher, py::object executor, uint64_t seed,
                         py::object progress, bool need_trainer) {
  ContextArgs c;
  if (!calibration.is_none()) c.calibration = calibration.cast<DataPtr>();
  if (!train.is_none()) c.train = train.cast<DataPtr>();
  if (!eval.is_none()) c.eval = eval.cast<DataPtr>();
  c.teacher = teacher;
  c.executor =
      executor.is_none() ? std::make_shared<OneDnnExecutor>() : executor.cast<PyExecutor&>().impl;
  if (need_trainer && trainer_factory()) c.trainer = trainer_factory()();
  c.seed = seed;
  c.progress = python_progress(progress);
  return c;
}

py::dict record_to_dict(const PassRecord& r) {
  py::dict d;
  d["name"] = r.name;
  d["options"] = r.options;
  d["seconds"] = r.seconds;
  d["changed"] = r.changed;
  d["stats"] = r.stats;
  d["warnings"] = r.warnings;
  d["params_after"] = r.params_after;
  d["bytes_after"] = r.bytes_after;
  d["nodes_after"] = r.nodes_after;
  d["automatic"] = r.automatic;
  py::list children;
  for (const PassRecord& c : r.children)
    children.append(record_to_dict(c));
  d["children"] = children;
  return d;
}

py::dict pipeline_report_to_dict(const PipelineReport& r) {
  py::dict d;
  py::list passes;
  for (const PassRecord& p : r.passes)
    passes.append(record_to_dict(p));
  d["passes"] = passes;
  d["seconds"] = r.seconds;
  d["params_before"] = r.params_before;
  d["bytes_before"] = r.bytes_before;
  d["nodes_before"] = r.nodes_before;
  d["params_after"] = r.params_after;
  d["bytes_after"] = r.bytes_after;
  d["nodes_after"] = r.nodes_after;
  d["warnings"] = r.warnings();
  return d;
}

bool pipeline_needs_trainer(const std::vector<PassSpec>& specs) {
  for (const PassSpec& s : specs) {
    if (s.name == kFixpointPass) {
      if (pipeline_needs_trainer(s.children)) return true;
      continue;
    }
    if (!PassRegistry::global().contains(s.name)) continue;
    try {
      if (PassRegistry::global().create(s.name, s.options)->info().needs.trainer) return true;
    } catch (const Error&) {
      // The manager reports bad options with every other problem.
    }
  }
  return false;
}

py::dict graph_info(Graph& graph) {
  Graph copy = graph.clone();
  std::string shape_note;
  try {
    infer_shapes(copy);
  } catch (const std::exception& e) {
    shape_note = e.what();
  }
  GraphStats s = graph_stats(copy);
  py::dict d;
  d["name"] = graph.name();
  d["nodes"] = s.nodes;
  d["parameters"] = s.parameters;
  d["bytes"] = s.parameter_bytes;
  d["flops"] = s.flops;
  d["flops_complete"] = s.complete;
  d["ops"] = s.ops;
  py::list inputs, outputs;
  for (const Value* v : copy.inputs())
    inputs.append(py::make_tuple(v->name(), print_type(v->type())));
  for (const Value* v : copy.outputs())
    outputs.append(py::make_tuple(v->name(), print_type(v->type())));
  d["inputs"] = inputs;
  d["outputs"] = outputs;
  if (!shape_note.empty()) d["shape_inference_error"] = shape_note;
  return d;
}

} // namespace

void register_torch_bridge(py::module_& m, std::function<Trainer*()>& trainer_factory);

PYBIND11_MODULE(_shrink, m) {
  m.doc() = "shrink: model compression on one tensor-graph IR (C++ extension)";

  // Exceptions keep the C++ message; subclasses come after their base so that pybind11 tries
  // the most specific translator first.
  static py::exception<Error> error(m, "Error", PyExc_RuntimeError);
  static py::exception<ParseError> parse_error(m, "ParseError", error.ptr());
  static py::exception<VerifyError> verify_error(m, "VerifyError", error.ptr());
  static py::exception<RecipeError> recipe_error(m, "RecipeError", error.ptr());
  static py::exception<UnsupportedError> unsupported_error(m, "UnsupportedError", error.ptr());
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ParseError& e) {
      PyErr_SetString(parse_error.ptr(), e.what());
    } catch (const VerifyError& e) {
      PyErr_SetString(verify_error.ptr(), e.what());
    } catch (const RecipeError& e) {
      PyErr_SetString(recipe_error.ptr(), e.what());
    } catch (const UnsupportedError& e) {
      PyErr_SetString(unsupported_error.ptr(), e.what());
    } catch (const Error& e) {
      PyErr_SetString(error.ptr(), e.what());
    }
  });

  // ---- Graph ----
  py::class_<Graph>(m, "Graph", "A model in shrink's IR.")
      .def_static(
          "load", [](const std::string& path) { return load_model(path); }, py::arg("path"),
          "Loads a .onnx or .mir file.", py::call_guard<py::gil_scoped_release>())
      .def_static(
          "parse", [](const std::string& text) { return parse(text); }, py::arg("text"),
          "Parses the IR text form.")
      .def_static(
          "from_onnx_bytes",
          [](py::bytes data, const std::string& name) {
            return load_onnx_from_string(std::string(data), name);
          },
          py::arg("data"), py::arg("name") = "<bytes>", "Imports a serialized ONNX model.")
      .def(
          "save", [](const Graph& g, const std::string& path) { save_model(g, path); },
          py::arg("path"), "Saves as .onnx or .mir (atomically).",
          py::call_guard<py::gil_scoped_release>())
      .def(
          "to_onnx_bytes",
          [](const Graph& g, int opset) {
            OnnxExportOptions o;
            o.opset = opset;
            return py::bytes(save_onnx_to_string(g, o));
          },
          py::arg("opset") = 0, "The graph as serialized ONNX.")
      .def("clone", &Graph::clone, "A deep copy (initializers are shared, which is cheap).")
      .def("info", &graph_info, "Size, cost, ops, inputs and outputs as a dict.")
      .def(
          "text", [](const Graph& g) { return print(g); }, "The IR text form.")
      .def("__str__", [](const Graph& g) { return print(g); })
      .def(
          "to_dot", [](const Graph& g) { return to_dot(g); }, "Graphviz DOT text.")
      .def(
          "verify", [](const Graph& g) { return verify(g); },
          "Every problem the verifier finds (empty when the graph is valid).")
      .def(
          "infer_shapes", [](Graph& g) { infer_shapes(g); }, "Infers every value's type.")
      .def_property_readonly("name", &Graph::name)
      .def_property_readonly("num_parameters", &Graph::num_parameters)
      .def_property_readonly("parameter_bytes", &Graph::parameter_bytes)
      .def_property_readonly("num_nodes", &Graph::num_nodes)
      .def_property_readonly("input_names",
                             [](const Graph& g) {
                               std::vector<std::string> n;
                               for (const Value* v : g.inputs())
                                 n.push_back(v->name());
                               return n;
                             })
      .def_property_readonly("output_names",
                             [](const Graph& g) {
                               std::vector<std::string> n;
                               for (const Value* v : g.outputs())
                                 n.push_back(v->name());
                               return n;
                             })
      .def(
          "initializers",
          [](const Graph& g) {
            py::dict d;
            for (const Value* v : g.initializers())
              d[py::str(v->name())] = to_numpy(v->initializer());
            return d;
          },
          "Every initializer as a numpy array sharing the graph's storage (do not write to it).")
      .def(
          "set_initializer",
          [](Graph& g, const std::string& name, py::object array) {
            Value* v = g.find_value(name);
            if (!v || !v->is_initializer()) throw Error("graph has no initializer '" + name + "'");
            g.set_initializer(v, from_numpy(array));
          },
          py::arg("name"), py::arg("array"), "Replaces an initializer's value (same shape).")
      .def(
          "ops",
          [](const Graph& g) {
            std::vector<std::tuple<std::string, std::string>> out;
            for (const Node* n : g.nodes())
              out.emplace_back(n->name(), n->op());
            return out;
          },
          "(node name, op) of every node in order.");

  // ---- data ----
  py::class_<DataSource, DataPtr>(m, "DataSource", "A finite, re-iterable source of samples.")
      .def("__len__", &DataSource::size)
      .def("describe", &DataSource::describe)
      .def("__repr__",
           [](const DataSource& d) { return "<shrink.DataSource " + d.describe() + ">"; })
      .def(
          "batch",
          [](const DataSource& d, int64_t start, int64_t count) {
            Batch b;
            {
              py::gil_scoped_release release;
              b = d.batch(start, count);
            }
            return batch_to_python(b);
          },
          py::arg("start"), py::arg("count"),
          "Samples [start, start+count) as (inputs: list of arrays, labels: array or None).");
  m.def(
      "fashion_mnist",
      [](const std::string& split, int64_t limit, const std::string& dir) -> DataPtr {
        return hold(fashion_mnist(split, limit, dir));
      },
      py::arg("split") = "test", py::arg("limit") = -1, py::arg("dir") = "",
      "Fashion-MNIST images (f32 Nx1x28x28 in [0,1]) and labels.");
  m.def(
      "npy_data",
      [](const std::vector<std::string>& inputs, const std::string& labels) -> DataPtr {
        return hold(std::make_shared<NpyDataSource>(inputs, labels));
      },
      py::arg("inputs"), py::arg("labels") = "", ".npy files used exactly as stored.");
  m.def(
      "array_data",
      [](py::object inputs, py::object labels, const std::string& name) -> DataPtr {
        std::optional<Tensor> l;
        if (!labels.is_none()) l = from_numpy(labels);
        return hold(std::make_shared<TensorDataSource>(tensors_from(inputs), l, name));
      },
      py::arg("inputs"), py::arg("labels") = py::none(), py::arg("name") = "arrays",
      "Samples from in-memory arrays (copied once); the first dimension is the sample.");
  m.def(
      "data_spec",
      [](const std::string& spec, const std::string& role, uint64_t seed) -> DataPtr {
        return hold(open_data_spec(parse_data_spec(spec, role), seed).source);
      },
      py::arg("spec"), py::arg("role") = "eval", py::arg("seed") = 0,
      "Opens a data set from its recipe one-line form, e.g. 'fashion-mnist{split=test}'.");
  m.def(
      "random_subset",
      [](DataPtr d, int64_t count, uint64_t seed) -> DataPtr {
        return hold(random_subset(d, count, seed));
      },
      py::arg("data"), py::arg("count"), py::arg("seed") = 0);

  // ---- executors ----
  py::class_<PyExecutor>(m, "Executor", "Runs graphs on numpy arrays.")
      .def_property_readonly("name", [](const PyExecutor& e) { return e.impl->name(); })
      .def(
          "run",
          [](PyExecutor& e, const Graph& g, py::object inputs,
             const std::vector<std::string>& fetch) {
            std::vector<Tensor> in = tensors_from(inputs);
            std::vector<Tensor> out;
            {
              py::gil_scoped_release release;
              out = e.impl->run(g, in, fetch);
            }
            return to_list(out);
          },
          py::arg("graph"), py::arg("inputs"), py::arg("fetch") = std::vector<std::string>{},
          "Runs the graph; returns its outputs (then the fetched values) as numpy arrays that "
          "share the result tensors' memory.")
      .def(
          "plan_info",
          [](PyExecutor& e) {
            auto* o = dynamic_cast<OneDnnExecutor*>(e.impl.get());
            return o ? o->plan_info().str() : std::string();
          },
          "The oneDNN plan of the last run, one step per line (empty for reference).");
  m.def(
      "reference_executor", [] { return PyExecutor{std::make_shared<ReferenceExecutor>()}; },
      "The reference executor (plain C++, every op).");
  m.def(
      "onednn_executor",
      [](int threads, bool int8, const std::string& winograd) {
        OneDnnOptions o;
        o.threads = threads;
        o.int8 = int8;
        if (winograd == "on")
          o.winograd = OneDnnOptions::Winograd::On;
        else if (winograd == "off")
          o.winograd = OneDnnOptions::Winograd::Off;
        else if (winograd != "auto")
          throw py::value_error("winograd must be 'auto', 'on' or 'off', got '" + winograd + "'");
        return PyExecutor{std::make_shared<OneDnnExecutor>(o)};
      },
      py::arg("threads") = 0, py::arg("int8") = true, py::arg("winograd") = "auto",
      "The oneDNN runtime (fp32 and int8).");

  m.def(
      "evaluate",
      [](const Graph& g, DataPtr data, const std::string& metric, py::object executor,
         int64_t batch_size, int64_t limit, py::object progress) {
        std::shared_ptr<Executor> ex = executor.is_none() ? std::make_shared<OneDnnExecutor>()
                                                          : executor.cast<PyExecutor&>().impl;
        EvalOptions o;
        o.batch_size = batch_size;
        o.limit = limit;
        o.progress = python_progress(progress);
        EvalResult r;
        {
          py::gil_scoped_release release;
          r = evaluate(g, *data, metric, *ex, o);
        }
        py::dict d;
        d["metric"] = r.metric;
        d["value"] = r.value;
        d["samples"] = r.samples;
        d["predictions"] = r.predictions;
        d["seconds"] = r.seconds;
        d["samples_per_second"] = r.samples_per_second;
        d["data"] = r.data;
        d["executor"] = r.executor;
        d["text"] = r.str();
        return d;
      },
      py::arg("graph"), py::arg("data"), py::arg("metric") = "accuracy",
      py::arg("executor") = py::none(), py::arg("batch_size") = 64, py::arg("limit") = -1,
      py::arg("progress") = py::none());

  // ---- passes and pipelines ----
  m.def(
      "pass_entries",
      [] {
        py::list out;
        for (const PassEntry& e : PassRegistry::global().entries()) {
          py::list options;
          for (const OptionInfo& o : PassRegistry::global().options(e.name)) {
            py::dict d;
            d["key"] = o.key;
            d["type"] = o.type;
            d["default"] = o.default_value;
            d["allowed"] = o.allowed;
            options.append(d);
          }
          out.append(py::make_tuple(e.name, e.summary, options));
        }
        return out;
      },
      "(name, summary, options) of every registered pass; options carry key, type, default.");
  m.def(
      "canonical_pipeline",
      [](const std::string& text) { return print_pipeline(parse_pipeline(text)); }, py::arg("text"),
      "Pipeline text in canonical form (ParseError when malformed).");
  m.def("quote_option_value", &quote_option_value, py::arg("value"));
  m.def(
      "run_pipeline",
      [](Graph& graph, const std::string& pipeline, py::object calibration, py::object train,
         py::object eval, const Graph* teacher, py::object executor, uint64_t seed,
         py::object progress, bool verify_each) {
        std::vector<PassSpec> specs = parse_pipeline(pipeline);
        ContextArgs c = make_context(calibration, train, eval, teacher, executor, seed, progress,
                                     pipeline_needs_trainer(specs));
        PassManager pm(std::move(specs));
        pm.set_verify_each(verify_each);
        PassContext ctx = c.context();
        PipelineReport r;
        {
          py::gil_scoped_release release;
          r = pm.run(graph, ctx);
        }
        return pipeline_report_to_dict(r);
      },
      py::arg("graph"), py::arg("pipeline"), py::arg("calibration") = py::none(),
      py::arg("train") = py::none(), py::arg("eval") = py::none(), py::arg("teacher") = nullptr,
      py::arg("executor") = py::none(), py::arg("seed") = 0, py::arg("progress") = py::none(),
      py::arg("verify_each") = true,
      "Runs pipeline text on the graph in place (the GIL is released while passes run).");
  m.def(
      "validate_pipeline",
      [](const std::string& pipeline, bool calibration, bool train, bool eval) {
        PassManager pm = PassManager::from_text(pipeline);
        struct None : DataSource {
          int64_t size() const override { return 0; }
          Batch batch(int64_t, int64_t) const override { return {}; }
          std::string describe() const override { return ""; }
        } none;
        PassContext ctx;
        if (calibration) ctx.calibration = &none;
        if (train) ctx.train = &none;
        if (eval) ctx.eval = &none;
        if (trainer_factory()) ctx.trainer = trainer_factory()();
        pm.validate(ctx);
      },
      py::arg("pipeline"), py::arg("calibration") = false, py::arg("train") = false,
      py::arg("eval") = false, "Checks names, options and needs; raises RecipeError.");

  // ---- recipes ----
  py::class_<Recipe>(m, "Recipe", "A parsed, validated YAML recipe.")
      .def_static(
          "load",
          [](const std::string& path, const std::vector<std::string>& overrides) {
            std::vector<RecipeOverride> o;
            for (const std::string& s : overrides)
              o.push_back(RecipeOverride::parse(s));
            return load_recipe(path, o);
          },
          py::arg("path"), py::arg("overrides") = std::vector<std::string>{})
      .def_static(
          "parse",
          [](const std::string& yaml, const std::string& base_dir,
             const std::vector<std::string>& overrides) {
            std::vector<RecipeOverride> o;
            for (const std::string& s : overrides)
              o.push_back(RecipeOverride::parse(s));
            return parse_recipe(yaml, "<string>", base_dir, o);
          },
          py::arg("yaml"), py::arg("base_dir") = "",
          py::arg("overrides") = std::vector<std::string>{})
      .def_readonly("source", &Recipe::source)
      .def_readonly("model", &Recipe::model)
      .def_readonly("teacher", &Recipe::teacher)
      .def_readonly("output", &Recipe::output)
      .def_readonly("report", &Recipe::report)
      .def_readonly("seed", &Recipe::seed)
      .def_readonly("executor", &Recipe::executor)
      .def_property_readonly("pipeline", &Recipe::pipeline)
      .def_property_readonly("steps_yaml", [](const Recipe& r) { return steps_to_yaml(r.steps); })
      .def_property_readonly("data", [](const Recipe& r) {
        py::dict d;
        for (const DataSpec* s : r.data())
          d[py::str(s->role)] = s->str();
        return d;
      });
  m.def(
      "run_recipe",
      [](const Recipe& recipe, py::object progress, py::object on_step, bool write_files) {
        DefaultEnvironment env;
        if (trainer_factory()) env.set_trainer(trainer_factory()());
        RecipeRunOptions o;
        o.progress = python_progress(progress);
        o.write_files = write_files;
        if (!on_step.is_none()) {
          auto fn = std::make_shared<py::object>(on_step);
          o.on_step = [fn](size_t index, const StepReport& s) {
            py::gil_scoped_acquire gil;
            (*fn)(index == SIZE_MAX ? -1 : static_cast<int64_t>(index), s.pass, s.after.params,
                  s.after.bytes, s.after.flops,
                  s.after.metric ? py::object(py::float_(*s.after.metric)) : py::none(), s.seconds);
          };
        }
        RecipeReport r;
        {
          py::gil_scoped_release release;
          r = run_recipe(recipe, env, o);
        }
        return py::make_tuple(r.to_json(), r.to_markdown());
      },
      py::arg("recipe"), py::arg("progress") = py::none(), py::arg("on_step") = py::none(),
      py::arg("write_files") = true,
      "Runs a recipe; returns (report JSON, report Markdown). The GIL is released while it runs.");
  m.def(
      "steps_yaml_to_pipeline",
      [](const std::string& yaml) { return print_pipeline(parse_steps_yaml(yaml)); },
      py::arg("yaml"), "The pipeline text of a YAML steps list.");
  m.def(
      "pipeline_to_steps_yaml",
      [](const std::string& text) { return steps_to_yaml(parse_pipeline(text)); }, py::arg("text"),
      "The YAML steps list of pipeline text.");
  m.def("human_count", &human_count);
  m.def("human_bytes", &human_bytes);

  register_torch_bridge(m, trainer_factory());
}
