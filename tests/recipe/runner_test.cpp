// Running recipes end to end: report contents, byte-identical outputs, validation before work.

#include "shrink/core/error.h"
#include "shrink/io/files.h"
#include "shrink/io/model.h"
#include "shrink/io/npy.h"
#include "shrink/recipe/default_environment.h"
#include "shrink/recipe/runner.h"
#include "support/test_graphs.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace shrink;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// A scratch folder with the small CNN as ONNX and 32 labelled random samples as .npy.
struct Workspace {
  fs::path dir;
  Workspace() {
    dir = fs::temp_directory_path() /
          ("shrink-recipe-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    fs::create_directories(dir);
    save_model(testing::small_cnn(), (dir / "model.onnx").string());
    save_npy((dir / "x.npy").string(), Tensor::random({32, 1, 28, 28}, 3));
    std::vector<int64_t> labels;
    for (int i = 0; i < 32; ++i)
      labels.push_back((i * 7) % 10);
    save_npy((dir / "y.npy").string(), Tensor::from_vector<int64_t>({32}, labels));
  }
  ~Workspace() { fs::remove_all(dir); }
  std::string write(const std::string& name, const std::string& text) {
    write_file_atomically((dir / name).string(), text);
    return (dir / name).string();
  }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const char* kRecipe = R"(model: model.onnx
data:
  calibration: {source: npy, inputs: x.npy, samples: 16}
  eval: {source: npy, inputs: x.npy, labels: y.npy, metric: accuracy, batch_size: 8}
steps:
  - prune-channels: {ratio: 0.5}
  - lowrank: {ratio: 0.5, whiten: true, force: true}
output: out/small.onnx
report: out/report.json
seed: 3
executor: reference
)";

// The default environment without a trainer, counting model loads.
struct CountingEnv : DefaultEnvironment {
  int loads = 0;
  Trainer* trainer() override { return nullptr; }
  Graph load_model(const std::string& path) override {
    ++loads;
    return DefaultEnvironment::load_model(path);
  }
};

} // namespace

TEST_CASE("runner: a recipe runs, writes its output and a complete report", "[recipe]") {
  Workspace ws;
  Recipe recipe = load_recipe(ws.write("r.yaml", kRecipe));
  DefaultEnvironment env;
  std::vector<std::string> seen;
  RecipeRunOptions opts;
  opts.on_step = [&](size_t, const StepReport& s) { seen.push_back(s.pass); };
  RecipeReport report = run_recipe(recipe, env, opts);

  CHECK(seen == std::vector<std::string>{"input", "prune-channels", "lowrank"});
  REQUIRE(report.steps.size() == 2);
  CHECK(report.steps[0].after.params < report.input_measure.params);
  CHECK(report.steps[0].after.bytes < report.input_measure.bytes);
  CHECK(report.steps[0].after.flops < report.input_measure.flops);
  REQUIRE(report.input_measure.metric);
  CHECK(*report.input_measure.metric >= 0.0);
  REQUIRE(report.steps[1].after.metric);
  CHECK(report.output.sha256 == sha256_file(recipe.output));
  CHECK(report.input.sha256 == sha256_file((ws.dir / "model.onnx").string()));
  CHECK(report.recipe.sha256 == sha256_hex(kRecipe));
  REQUIRE(report.data.size() == 2);
  CHECK(report.data[0].samples == 16);
  CHECK(report.data[1].files.size() == 2);
  CHECK(report.data[1].files[1].sha256 == sha256_file((ws.dir / "y.npy").string()));
  CHECK(report.versions.count("shrink"));
  CHECK(report.versions.count("yaml-cpp"));
  CHECK(report.versions.count("onednn"));

  const std::string json = slurp(recipe.report);
  CHECK(json == report.to_json());
  for (const char* field :
       {"\"recipe\": {\"path\"", "\"input\": {\"path\"", "\"sha256\"", "\"params\"", "\"bytes\"",
        "\"flops\"", "\"metric\"", "\"steps\": [", "\"pass\": \"prune-channels\"",
        "\"options\": {\"ratio\": \"0.5\"}", "\"seconds\"", "\"output\": {\"path\"",
        "\"versions\": {", "\"seed\": 3"})
    CHECK_THAT(json, Contains(field));
  CHECK(fs::exists(ws.dir / "out" / "report.md"));
  CHECK(load_model(recipe.output).num_parameters() == report.steps[1].after.params);
}

TEST_CASE("runner: the same recipe and seed give a byte-identical model", "[recipe]") {
  Workspace ws;
  const std::string path = ws.write("r.yaml", kRecipe);
  DefaultEnvironment env;
  run_recipe(load_recipe(path), env);
  const std::string first = slurp((ws.dir / "out" / "small.onnx").string());
  run_recipe(load_recipe(path, {RecipeOverride::parse("output=out/again.onnx")}), env);
  const std::string second = slurp((ws.dir / "out" / "again.onnx").string());
  CHECK(first.size() > 1000);
  CHECK(first == second);
  // The seed matters: another seed picks other calibration samples and so other weights.
  run_recipe(load_recipe(path, {RecipeOverride::parse("output=out/seed4.onnx"),
                                RecipeOverride::parse("seed=4")}),
             env);
  CHECK(slurp((ws.dir / "out" / "seed4.onnx").string()) != first);
}

TEST_CASE("runner: missing requirements fail before the model is loaded", "[recipe]") {
  Workspace ws;
  CountingEnv env;
  // Taylor importance needs a trainer, which this environment does not have.
  Recipe recipe = load_recipe(ws.write("r.yaml", R"(model: model.onnx
data:
  train: {source: npy, inputs: x.npy, labels: y.npy}
steps:
  - prune-channels: {ratio: 0.5, criterion: taylor}
)"));
  CHECK_THROWS_WITH(run_recipe(recipe, env), Contains("needs a trainer"));
  CHECK(env.loads == 0);

  // A missing data file is found before the model is loaded, too.
  Recipe missing = load_recipe(ws.write("m.yaml", R"(model: model.onnx
data:
  eval: {source: npy, inputs: nothere.npy, labels: y.npy}
steps: [dce]
)"));
  CHECK_THROWS_WITH(run_recipe(missing, env), Contains("nothere.npy' does not exist"));
  CHECK(env.loads == 0);

  Recipe bad_metric = load_recipe(ws.write("b.yaml", R"(model: model.onnx
data:
  eval: {source: npy, inputs: x.npy, labels: y.npy, metric: acuracy}
steps: [dce]
)"));
  CHECK_THROWS_WITH(run_recipe(bad_metric, env), Contains("accuracy"));
  CHECK(env.loads == 0);
}

TEST_CASE("runner: latency_batch times the input and every step on eval samples", "[recipe]") {
  Workspace ws;
  std::string text = kRecipe;
  text += "latency_batch: 4\n";
  Recipe recipe = load_recipe(ws.write("r.yaml", text));
  CHECK(recipe.latency_batch == 4);
  CountingEnv env;
  RecipeReport report = run_recipe(recipe, env);
  REQUIRE(report.input_measure.latency_ms);
  CHECK(*report.input_measure.latency_ms > 0.0);
  for (const StepReport& s : report.steps) {
    REQUIRE(s.after.latency_ms);
    CHECK(*s.after.latency_ms > 0.0);
  }
  CHECK_THAT(report.to_json(), Contains("\"latency_ms\": "));
  CHECK_THAT(report.to_markdown(), Contains("latency (ms)"));
  // Without the key nothing is timed.
  Recipe plain = load_recipe(ws.write("p.yaml", kRecipe));
  CHECK_FALSE(run_recipe(plain, env).input_measure.latency_ms);
  // A negative batch is a recipe error.
  CHECK_THROWS_WITH(load_recipe(ws.write("n.yaml", std::string(kRecipe) + "latency_batch: -1\n")),
                    Contains("'latency_batch' must be an integer >= 0"));
}
