#pragma once
/// \file
/// Loading and saving models by file name: `.onnx` (ONNX protobuf) or `.mir` (the IR text form).

#include "shrink/ir/graph.h"

#include <string>

namespace shrink {

/// Loads `path` by its extension: `.onnx` through the ONNX importer, `.mir` through the text
/// parser. Throws `Error` naming the file for a missing file or an unknown extension.
Graph load_model(const std::string& path);

/// Saves `graph` to `path` by its extension (`.onnx` or `.mir`), atomically: on failure no file
/// is left behind and an existing file is unchanged.
void save_model(const Graph& graph, const std::string& path);

} // namespace shrink
