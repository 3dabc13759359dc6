#pragma once
/// \file
/// ONNX import and export (see docs/onnx.md for the full contract).
///
/// Import reads models of opsets 9 to 21 of the default domain, turns `Constant` nodes and
/// initializers (inline or external data) into IR initializers, normalises older opset forms
/// into the IR's canonical form, runs shape inference and the verifier. Every operator shrink
/// does not support is reported in one `UnsupportedError`.
///
/// Export writes fp32 and QDQ-quantized graphs at a chosen opset (13 to 21, default 17),
/// converting attribute forms the opset does not allow into inputs (and back), and writes the
/// file atomically.

#include "shrink/ir/graph.h"

#include <string>

namespace shrink {

/// The oldest default-domain opset `load_onnx` reads.
constexpr int kOnnxMinImportOpset = 9;
/// The newest default-domain opset `load_onnx` reads.
constexpr int kOnnxMaxImportOpset = 21;
/// The oldest opset `save_onnx` writes (per-axis QuantizeLinear/DequantizeLinear need 13).
constexpr int kOnnxMinExportOpset = 13;
/// The newest opset `save_onnx` writes.
constexpr int kOnnxMaxExportOpset = 21;
/// The opset `save_onnx` writes when the graph needs nothing newer.
constexpr int kOnnxDefaultExportOpset = 17;

/// Reads an ONNX model file. External data files are looked up beside the model. Throws
/// `UnsupportedError` listing every unsupported operator, domain or type at once, `Error`
/// naming the file for a missing, empty, truncated or corrupt file (or a missing external data
/// file), and `VerifyError` when the imported graph breaks the IR's invariants.
Graph load_onnx(const std::string& path);

/// Reads an ONNX model from its serialized bytes. `source_name` names the model in errors;
/// external data files are looked up in `external_data_dir` (a model with external data and an
/// empty `external_data_dir` is an `Error`).
Graph load_onnx_from_string(const std::string& bytes, const std::string& source_name = "<string>",
                            const std::string& external_data_dir = "");

/// Options of `save_onnx`.
struct OnnxExportOptions {
  /// The default-domain opset to write, 13 to 21; 0 picks `kOnnxDefaultExportOpset`, or the
  /// oldest newer opset that the graph's operators need.
  int opset = 0;
  /// Writes `value_info` with the type and shape of every intermediate value that has one.
  bool value_info = true;
};

/// The opset `save_onnx` writes `graph` with under `options`. Throws `Error` when
/// `options.opset` is out of range or too old for an operator the graph uses (naming the node
/// and the opset it needs).
int onnx_export_opset(const Graph& graph, const OnnxExportOptions& options = {});

/// The ONNX IR version that goes with a default-domain opset (7 for opsets 13 and 14, 8 for 15
/// to 18, 9 for 19 and 20, 10 for 21).
int onnx_ir_version_for_opset(int opset);

/// Writes `graph` as an ONNX model at `path`, atomically: the model is written to
/// `path + ".tmp-<pid>"` and renamed, and nothing is left behind on failure. Initializers are
/// stored inline as raw data. Throws `Error` naming the path, or the node that cannot be
/// written at the chosen opset.
void save_onnx(const Graph& graph, const std::string& path, const OnnxExportOptions& options = {});

/// The serialized ONNX model of `graph` (see `save_onnx`).
std::string save_onnx_to_string(const Graph& graph, const OnnxExportOptions& options = {});

} // namespace shrink
