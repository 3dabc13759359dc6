// `shrink convert IN OUT`: convert a model between ONNX and the IR text form.

#include "cli.h"

#include "shrink/core/error.h"
#include "shrink/io/model.h"
#include "shrink/io/onnx.h"
#include "shrink/pass/pass_manager.h"
#include "shrink/transforms/builtin.h"

#include <filesystem>
#include <iostream>

namespace shrink::cli {

namespace {
const char* kConvertHelp = R"(usage: shrink convert IN OUT [options]

Reads IN and writes OUT, each .onnx or .mir (the IR text form) by extension. The output is
written atomically: a failure leaves no partial file.

options:
  --opset N      ONNX opset to write (13 to 21; default 17, or what the graph needs)
  --cleanup      run the lossless cleanup pipeline before writing
  --quiet        print nothing but errors
  --help         this text
)";
} // namespace

int cmd_convert(const std::vector<std::string>& argv) {
  Args args(argv, {"cleanup", "quiet", "help"}, {"opset"});
  if (args.flag("help")) {
    std::cout << kConvertHelp;
    return kExitOk;
  }
  if (args.positional().size() != 2) throw UsageError{"expected IN and OUT"};
  const std::string in = args.positional()[0], out = args.positional()[1];
  const std::string ext = std::filesystem::path(out).extension().string();
  if (ext != ".onnx" && ext != ".mir")
    throw UsageError{"OUT must end in .onnx or .mir, got '" + out + "'"};
  int opset = 0;
  if (args.has("opset")) {
    try {
      opset = std::stoi(args.value("opset"));
    } catch (const std::exception&) {
      throw UsageError{"--opset needs a number, got '" + args.value("opset") + "'"};
    }
    if (ext != ".onnx") throw UsageError{"--opset applies to .onnx output only"};
  }
  Graph graph = load_model(in);
  if (args.flag("cleanup")) {
    PassContext ctx;
    PassManager::from_text(kCleanupPipeline).run(graph, ctx);
  }
  if (ext == ".onnx" && opset != 0) {
    OnnxExportOptions options;
    options.opset = opset;
    save_onnx(graph, out, options);
  } else {
    save_model(graph, out);
  }
  if (!args.flag("quiet")) std::cout << "wrote " << out << "\n";
  return kExitOk;
}

} // namespace shrink::cli
