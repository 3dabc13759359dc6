#pragma once
/// \file
/// Whole-file reading and atomic writing, shared by the io readers and writers.

#include <string>

namespace shrink {

/// Reads a whole file. Throws `Error` naming `path` and `what` (e.g. "ONNX model") with the
/// system's reason when it cannot be opened or read.
std::string read_file(const std::string& path, const std::string& what);

/// Writes `bytes` to `path` through a temporary file (`path + ".tmp-<pid>"`) and a rename, so
/// that readers never see a half-written file. On failure the temporary file is removed and an
/// `Error` naming `path` and the system's reason is thrown.
void write_file_atomically(const std::string& path, const std::string& bytes);

} // namespace shrink
