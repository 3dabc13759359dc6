#include "shrink/io/model.h"

#include "shrink/core/error.h"
#include "shrink/io/files.h"
#include "shrink/io/onnx.h"
#include "shrink/ir/text.h"

namespace shrink {

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

[[noreturn]] void unknown_extension(const std::string& path) {
  throw Error("'" + path + "': unknown model format; use a .onnx file or a .mir file (IR text)");
}
} // namespace

Graph load_model(const std::string& path) {
  if (ends_with(path, ".onnx")) return load_onnx(path);
  if (ends_with(path, ".mir")) return parse(read_file(path, "IR text file"), path);
  unknown_extension(path);
}

void save_model(const Graph& graph, const std::string& path) {
  if (ends_with(path, ".onnx")) return save_onnx(graph, path);
  // Every constant inline: a saved .mir file must load back to the same model.
  if (ends_with(path, ".mir")) return write_file_atomically(path, print(graph, {-1}));
  unknown_extension(path);
}

} // namespace shrink
