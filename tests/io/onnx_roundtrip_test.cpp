// PyTorch -> torch.onnx.export -> shrink import -> shrink export -> ONNX Runtime, compared with
// PyTorch's own outputs (tests/io/torch_models.py writes the models and expected outputs).
#include "io_test_support.h"

#include "shrink/io/npy.h"
#include "shrink/io/onnx.h"

#include <catch2/catch.hpp>

#include <sstream>

using namespace shrink;
using shrink::test::TempDir;

TEST_CASE("PyTorch models survive import and export", "[io][onnx][roundtrip][ort][torch]") {
  if (!test::python_has("torch")) {
    WARN("skipped: /usr/bin/python3 cannot import torch (apt-get install python3-torch)");
    return;
  }
  TempDir dir("onnx_torch");
  auto gen =
      test::run_command(std::string(test::kPython) + " " +
                        test::shell_quote(std::string(SHRINK_TEST_DIR) + "/io/torch_models.py") +
                        " " + test::shell_quote(dir.path()));
  INFO(gen.output);
  REQUIRE(gen.status == 0);
  std::vector<std::string> names;
  std::istringstream lines(gen.output);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line.find(' ') == std::string::npos) names.push_back(line);
  REQUIRE(names.size() == 5);

  std::vector<std::string> exported;
  const bool ort = test::ort_available();
  if (!ort) WARN(test::ort_skip_message() << " (the ONNX Runtime half of this test did not run)");
  for (const auto& name : names) {
    INFO("model " << name);
    Graph g = load_onnx(dir.file(name + ".onnx"));
    Tensor x = load_npy(dir.file(name + ".input.npy"));
    Tensor expected = load_npy(dir.file(name + ".expected.npy"));

    // shrink's own reference executor agrees with PyTorch.
    Tensor ours = test::run_reference(g, {x})[0];
    REQUIRE(ours.shape() == expected.shape());
    CHECK(max_relative_error(ours, expected) <= 1e-4);

    std::string out = dir.file(name + ".shrink.onnx");
    save_onnx(g, out);
    exported.push_back(out);
    if (!ort) continue;
    auto got = test::run_ort(out, {x}, dir.path());
    REQUIRE(got.size() == 1);
    REQUIRE(got[0].shape() == expected.shape());
    CHECK(max_relative_error(got[0], expected) <= 1e-4);
  }
  if (test::python_has("onnx")) CHECK(test::onnx_check(exported) == "");
}
