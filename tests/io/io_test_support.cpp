#include "io_test_support.h"

#include "shrink/core/error.h"
#include "shrink/exec/reference.h"
#include "shrink/io/npy.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>
#include <unordered_map>

namespace fs = std::filesystem;

namespace shrink::test {

TempDir::TempDir(const std::string& tag) {
  static int counter = 0;
  fs::path p = fs::temp_directory_path() / ("shrink_io_" + tag + "_" + std::to_string(::getpid()) +
                                            "_" + std::to_string(counter++));
  fs::remove_all(p);
  fs::create_directories(p);
  path_ = p.string();
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::vector<std::string> TempDir::list() const {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(path_))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    r.output.append(buf, n);
  int status = ::pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

bool python_has(const std::string& module) {
  static std::unordered_map<std::string, bool> cache;
  auto it = cache.find(module);
  if (it != cache.end()) return it->second;
  bool ok =
      fs::exists(kPython) &&
      run_command(std::string(kPython) + " -c " + shell_quote("import " + module)).status == 0;
  cache[module] = ok;
  return ok;
}

namespace {
std::string ort_dir() {
  return std::string(SHRINK_TEST_DIR) + "/io/ort";
}
} // namespace

bool ort_available() {
  static int state = -1;
  if (state < 0)
    state = fs::exists(ort_dir() + "/node_modules/onnxruntime-node") &&
                    run_command("node --version").status == 0
                ? 1
                : 0;
  return state == 1;
}

std::string ort_skip_message() {
  return "skipped: ONNX Runtime is not installed; run `npm install --ignore-scripts` in " +
         ort_dir() + " (scripts/install-deps does this)";
}

std::string onnx_check(const std::vector<std::string>& paths) {
  // One interpreter for all models: importing onnx costs about a second.
  const char* script = "import sys, onnx\n"
                       "bad = 0\n"
                       "for p in sys.argv[1:]:\n"
                       "    try:\n"
                       "        onnx.checker.check_model(p, full_check=True)\n"
                       "    except Exception as e:\n"
                       "        bad += 1\n"
                       "        print(p + ': ' + str(e))\n"
                       "sys.exit(1 if bad else 0)\n";
  std::string cmd = std::string(kPython) + " -c " + shell_quote(script);
  for (const auto& p : paths)
    cmd += " " + shell_quote(p);
  CommandResult r = run_command(cmd);
  return r.status == 0 ? "" : (r.output.empty() ? "checker failed" : r.output);
}

std::vector<Tensor> run_ort(const std::string& model, const std::vector<Tensor>& inputs,
                            const std::string& work_dir) {
  std::string cmd = "node " + shell_quote(ort_dir() + "/run_model.js") + " " + shell_quote(model) +
                    " " + shell_quote(work_dir);
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::string p = work_dir + "/ort_input_" + std::to_string(i) + ".npy";
    save_npy(p, inputs[i]);
    cmd += " " + shell_quote(p);
  }
  CommandResult r = run_command(cmd);
  if (r.status != 0) throw Error("ONNX Runtime failed on '" + model + "':\n" + r.output);
  std::vector<Tensor> outputs;
  for (int i = 0;; ++i) {
    std::string p = work_dir + "/ort_output_" + std::to_string(i) + ".npy";
    if (!fs::exists(p)) break;
    outputs.push_back(load_npy(p));
    fs::remove(p);
  }
  return outputs;
}

std::vector<Tensor> run_reference(const Graph& graph, const std::vector<Tensor>& inputs) {
  ReferenceExecutor executor;
  return executor.run(graph, inputs);
}

ProtoBuilder::ProtoBuilder(int opset, int ir_version) {
  model_.set_ir_version(ir_version);
  model_.set_producer_name("shrink-tests");
  auto* os = model_.add_opset_import();
  os->set_domain("");
  os->set_version(opset);
  model_.mutable_graph()->set_name("test");
}

onnx::NodeProto* ProtoBuilder::node(const std::string& op, const std::vector<std::string>& inputs,
                                    const std::vector<std::string>& outputs,
                                    const std::string& name) {
  auto* n = graph().add_node();
  n->set_op_type(op);
  if (!name.empty()) n->set_name(name);
  for (const auto& i : inputs)
    n->add_input(i);
  for (const auto& o : outputs)
    n->add_output(o);
  return n;
}

void ProtoBuilder::attr(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void ProtoBuilder::attr(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

void ProtoBuilder::attr(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

void ProtoBuilder::attr(onnx::NodeProto* n, const std::string& name,
                        const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v)
    a->add_ints(x);
}

void ProtoBuilder::attr(onnx::NodeProto* n, const std::string& name, const onnx::TensorProto& t) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::TENSOR);
  *a->mutable_t() = t;
}

namespace {
void fill_value_info(onnx::ValueInfoProto* vi, const std::string& name, int elem_type,
                     const std::vector<std::string>& dims) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem_type);
  auto* shape = tt->mutable_shape();
  for (const auto& d : dims) {
    auto* dim = shape->add_dim();
    if (d == "?") continue;
    if (std::isdigit(static_cast<unsigned char>(d[0])))
      dim->set_dim_value(std::stoll(d));
    else
      dim->set_dim_param(d);
  }
}
} // namespace

void ProtoBuilder::input(const std::string& name, int elem_type,
                         const std::vector<std::string>& dims) {
  fill_value_info(graph().add_input(), name, elem_type, dims);
}

void ProtoBuilder::output(const std::string& name, int elem_type,
                          const std::vector<std::string>& dims) {
  fill_value_info(graph().add_output(), name, elem_type, dims);
}

void ProtoBuilder::value_info(const std::string& name, int elem_type,
                              const std::vector<std::string>& dims) {
  fill_value_info(graph().add_value_info(), name, elem_type, dims);
}

onnx::TensorProto make_f32_proto(const std::string& name, const Shape& shape,
                                 const std::vector<float>& values) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : shape)
    t.add_dims(d);
  t.set_raw_data(
      std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  return t;
}

onnx::TensorProto* ProtoBuilder::init_f32(const std::string& name, const Shape& shape,
                                          const std::vector<float>& values, bool typed) {
  auto* t = graph().add_initializer();
  if (typed) {
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : shape)
      t->add_dims(d);
    for (float v : values)
      t->add_float_data(v);
  } else {
    *t = make_f32_proto(name, shape, values);
  }
  return t;
}

onnx::TensorProto* ProtoBuilder::init_i64(const std::string& name, const Shape& shape,
                                          const std::vector<int64_t>& values) {
  auto* t = graph().add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  for (int64_t d : shape)
    t->add_dims(d);
  t->set_raw_data(
      std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(int64_t)));
  return t;
}

std::string ProtoBuilder::bytes() const {
  std::string out;
  model_.SerializeToString(&out);
  return out;
}

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t(DType::f32, shape);
  float* p = t.data_mutable<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    p[i] = dist(rng);
  return t;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

} // namespace shrink::test
