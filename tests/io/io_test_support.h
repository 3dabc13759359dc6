#pragma once
// Helpers for the io tests: temporary directories, running external tools (python3 with onnx and
// torch, node with onnxruntime-node), ONNX protos built by hand, and graph evaluation.

#include "shrink/core/tensor.h"
#include "shrink/ir/graph.h"

#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

namespace shrink::test {

/// A fresh directory under the system temp directory, removed with its contents on destruction.
class TempDir {
public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  /// The directory's path.
  const std::string& path() const { return path_; }
  /// `path() + "/" + name`.
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  /// Names of the entries in the directory, sorted.
  std::vector<std::string> list() const;

private:
  std::string path_;
};

/// The exit status and combined stdout/stderr of a shell command.
struct CommandResult {
  int status = -1;
  std::string output;
};

/// Runs `command` through /bin/sh.
CommandResult run_command(const std::string& command);

/// Quotes `s` for /bin/sh.
std::string shell_quote(const std::string& s);

/// The Debian Python that has the `onnx` (and maybe `torch`) modules.
constexpr const char* kPython = "/usr/bin/python3";

/// True when `/usr/bin/python3` can import `module`.
bool python_has(const std::string& module);

/// True when tests/io/ort/node_modules holds onnxruntime-node and `node` runs.
bool ort_available();

/// Why ONNX Runtime tests are skipped (to print with WARN).
std::string ort_skip_message();

/// Runs `onnx.checker.check_model(path, full_check=True)` under /usr/bin/python3 for every path
/// (one Python process); returns "" when all pass, the checker's messages otherwise.
std::string onnx_check(const std::vector<std::string>& paths);

/// Runs `model` in ONNX Runtime (tests/io/ort/run_model.js) on `inputs` and returns its outputs.
/// Fails the test (throws) when node fails.
std::vector<Tensor> run_ort(const std::string& model, const std::vector<Tensor>& inputs,
                            const std::string& work_dir);

/// Runs `graph` in shrink's reference executor.
std::vector<Tensor> run_reference(const Graph& graph, const std::vector<Tensor>& inputs);

/// A small builder for hand-written ONNX models.
class ProtoBuilder {
public:
  /// A model of the default domain at `opset` with `ir_version`.
  explicit ProtoBuilder(int opset, int ir_version = 7);
  /// Adds a node. Empty name: the node stays unnamed.
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs, const std::string& name = "");
  /// Adds an attribute to `n`.
  static void attr(onnx::NodeProto* n, const std::string& name, int64_t v);
  static void attr(onnx::NodeProto* n, const std::string& name, float v);
  static void attr(onnx::NodeProto* n, const std::string& name, const std::string& v);
  static void attr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v);
  static void attr(onnx::NodeProto* n, const std::string& name, const onnx::TensorProto& t);
  /// Dims are "N" (symbol), "?" (unknown) or a number.
  void input(const std::string& name, int elem_type, const std::vector<std::string>& dims);
  void output(const std::string& name, int elem_type, const std::vector<std::string>& dims);
  void value_info(const std::string& name, int elem_type, const std::vector<std::string>& dims);
  /// Adds an f32 initializer stored as raw_data (or float_data when `typed`).
  onnx::TensorProto* init_f32(const std::string& name, const Shape& shape,
                              const std::vector<float>& values, bool typed = false);
  /// Adds an i64 initializer stored as raw_data.
  onnx::TensorProto* init_i64(const std::string& name, const Shape& shape,
                              const std::vector<int64_t>& values);
  /// The model.
  onnx::ModelProto& model() { return model_; }
  onnx::GraphProto& graph() { return *model_.mutable_graph(); }
  /// The serialized model.
  std::string bytes() const;

private:
  onnx::ModelProto model_;
};

/// An f32 TensorProto with raw data.
onnx::TensorProto make_f32_proto(const std::string& name, const Shape& shape,
                                 const std::vector<float>& values);

/// Deterministic pseudo-random f32 values, uniform in [lo, hi).
Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

/// Writes `bytes` to `path` (plain, non-atomic), for test fixtures.
void write_bytes(const std::string& path, const std::string& bytes);

} // namespace shrink::test
