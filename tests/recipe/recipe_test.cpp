// Recipe YAML: schema, strict validation, overrides, and YAML <-> pipeline text.

#include "shrink/core/error.h"
#include "shrink/pass/registry.h"
#include "shrink/recipe/recipe.h"
#include "shrink/recipe/report.h"

#include <catch2/catch.hpp>

using namespace shrink;
using Catch::Matchers::Contains;

namespace {

std::string error_of(const std::string& yaml, const std::vector<RecipeOverride>& overrides = {}) {
  try {
    parse_recipe(yaml, "r.yaml", "/base", overrides);
  } catch (const RecipeError& e) {
    return e.what();
  }
  return "";
}

const char* kIssueShape = R"(model: teacher.onnx
data:
  calibration: {source: fashion-mnist, split: train, samples: 512}
  train:       {source: npy, inputs: x_train.npy, labels: y_train.npy}
  eval:        {source: npy, inputs: x_test.npy, labels: y_test.npy, metric: accuracy}
steps:
  - prune-channels: {ratio: 0.5, criterion: l1}
  - lowrank: {ratio: 0.5, exclude: [head, "block 3"]}
output: out/model.onnx
report: out/report.json
)";

} // namespace

TEST_CASE("recipe: the issue's schema parses with paths relative to the recipe", "[recipe]") {
  Recipe r = parse_recipe(kIssueShape, "r.yaml", "/base/dir");
  CHECK(r.model == "/base/dir/teacher.onnx");
  CHECK(r.output == "/base/dir/out/model.onnx");
  CHECK(r.report == "/base/dir/out/report.json");
  REQUIRE(r.calibration);
  CHECK(r.calibration->source == "fashion-mnist");
  CHECK(r.calibration->samples == 512);
  CHECK(r.calibration->effective_split() == "train");
  REQUIRE(r.train);
  CHECK(r.train->inputs == std::vector<std::string>{"/base/dir/x_train.npy"});
  CHECK(r.train->labels == "/base/dir/y_train.npy");
  REQUIRE(r.eval);
  CHECK(r.eval->effective_metric() == "accuracy");
  REQUIRE(r.steps.size() == 2);
  CHECK(r.steps[0].name == "prune-channels");
  CHECK(r.steps[0].options.at("ratio") == "0.5");
  CHECK(r.steps[1].options.at("exclude") == "[head,\"block 3\"]");
  CHECK(r.pipeline() ==
        "prune-channels{criterion=l1,ratio=0.5},lowrank{exclude=[head,\"block 3\"],ratio=0.5}");
  CHECK(r.seed == 0);
  CHECK(r.text == kIssueShape);
}

TEST_CASE("recipe: YAML steps and pipeline text are two spellings of one list", "[recipe]") {
  const std::string text =
      "fold-batchnorm,prune-channels{ratio=0.25,criterion=l2},fixpoint{max_rounds=4}(fuse,dce)";
  std::vector<PassSpec> from_text = parse_pipeline(text);
  std::vector<PassSpec> from_yaml = parse_steps_yaml(R"(
- fold-batchnorm
- prune-channels: {ratio: 0.25, criterion: l2}
- fixpoint: {max_rounds: 4, steps: [fuse, dce]}
)");
  CHECK(from_yaml == from_text);
  // Pipeline text is a valid step too, and a whole pipeline can be the steps value.
  CHECK(parse_steps_yaml("- fold-batchnorm\n- prune-channels{ratio=0.25,criterion=l2}\n- "
                         "fixpoint{max_rounds=4}(fuse,dce)\n") == from_text);
  CHECK(parse_recipe("model: m.onnx\nsteps: \"" + text + "\"\n").steps == from_text);
  // And back: YAML printed from specs reads as the same specs.
  CHECK(parse_steps_yaml(steps_to_yaml(from_text)) == from_text);
}

TEST_CASE("recipe: unknown keys name the closest known key with their location", "[recipe]") {
  std::string e = error_of("modle: m.onnx\nsteps: [dce]\n");
  CHECK_THAT(e, Contains("r.yaml:1:1: unknown key 'modle' (did you mean 'model'?)"));
  CHECK_THAT(e, Contains("missing 'model'"));

  e = error_of("model: m.onnx\ndata:\n  eval: {source: npy, input: x.npy}\nsteps: [dce]\n");
  CHECK_THAT(e, Contains("r.yaml:3:3: data.eval (npy) has no key 'input' (did you mean "
                         "'inputs'?)"));
  CHECK_THAT(e, Contains("source npy needs 'inputs'"));

  e = error_of("model: m.onnx\ndata:\n  evals: {source: npy}\nsteps: [dce]\n");
  CHECK_THAT(e, Contains("unknown data role 'evals' (did you mean 'eval'?)"));

  e = error_of("model: m.onnx\ndata:\n  eval: {source: fashion-mnst}\nsteps: [dce]\n");
  CHECK_THAT(e, Contains("unknown source 'fashion-mnst' (did you mean 'fashion-mnist'?)"));

  e = error_of("model: m.onnx\ndata:\n  eval: {source: fashion-mnist, split: tset}\nsteps: []\n");
  CHECK_THAT(e, Contains("unknown split 'tset' (did you mean 'test'?)"));
}

TEST_CASE("recipe: misspelled passes and options are errors that suggest the closest name",
          "[recipe]") {
  std::string e =
      error_of("model: m.onnx\nsteps:\n  - fold-batchnrom\n  - lowrank: {ratoi: 0.5}\n");
  CHECK_THAT(e, Contains("r.yaml:3:5: step 'fold-batchnrom': unknown pass 'fold-batchnrom' (did "
                         "you mean 'fold-batchnorm'?)"));
  CHECK_THAT(e, Contains("r.yaml:4:5: step 'lowrank': pass 'lowrank' has no option 'ratoi' (did "
                         "you mean 'ratio'?)"));
  CHECK_THAT(e, Contains("(2 problems)"));
  // Bad values are found before anything runs, too.
  CHECK_THAT(error_of("model: m.onnx\nsteps:\n  - lowrank: {ratio: half}\n"),
             Contains("option 'ratio' must be a number, got 'half'"));
  CHECK_THAT(error_of("model: m.onnx\nseed: -3\nsteps: [dce]\n"),
             Contains("'seed' must be a non-negative integer"));
}

TEST_CASE("recipe: pass requirements are checked before any work", "[recipe]") {
  // Activation importance needs calibration data; the recipe has none.
  std::string e =
      error_of("model: m.onnx\nsteps:\n  - prune-channels: {ratio: 0.5, criterion: activation}\n");
  CHECK_THAT(e, Contains("needs calibration data"));
  CHECK_THAT(e, Contains("add data.calibration to the recipe"));
  CHECK_NOTHROW(parse_recipe("model: m.onnx\ndata:\n  calibration: {source: fashion-mnist}\n"
                             "steps:\n  - prune-channels: {ratio: 0.5, criterion: activation}\n"));
}

TEST_CASE("recipe: YAML that does not parse is a ParseError with its position", "[recipe]") {
  try {
    parse_recipe("model: m.onnx\nsteps: [dce\n", "bad.yaml");
    FAIL("no error");
  } catch (const ParseError& e) {
    CHECK(e.source() == "bad.yaml");
    CHECK(e.line() >= 2);
  }
}

TEST_CASE("recipe: --set overrides top-level keys, data keys and step options", "[recipe]") {
  std::vector<RecipeOverride> o = {
      RecipeOverride::parse("prune-channels.ratio=0.3"), RecipeOverride::parse("seed=7"),
      RecipeOverride::parse("data.calibration.samples=64"),
      RecipeOverride::parse("output=other.onnx"), RecipeOverride::parse("lowrank.exclude=[a, b]")};
  Recipe r = parse_recipe(kIssueShape, "r.yaml", "/base", o);
  CHECK(r.steps[0].options.at("ratio") == "0.3");
  CHECK(r.steps[1].options.at("exclude") == "[a,b]");
  CHECK(r.seed == 7);
  CHECK(r.calibration->samples == 64);
  CHECK(r.output == "/base/other.onnx");

  CHECK_THAT(error_of(kIssueShape, {RecipeOverride::parse("prune-chanels.ratio=0.3")}),
             Contains("no top-level key or step named 'prune-chanels' (did you mean "
                      "'prune-channels'?)"));
  CHECK_THAT(error_of(kIssueShape, {RecipeOverride::parse("lowrank.ratoi=0.3")}),
             Contains("has no option 'ratoi' (did you mean 'ratio'?)"));
  CHECK_THAT(error_of("model: m.onnx\nsteps: [dce, dce]\n", {RecipeOverride::parse("dce.x=1")}),
             Contains("say which with 'dce#2.x'"));
  CHECK_THROWS_AS(RecipeOverride::parse("seed"), RecipeError);
}

TEST_CASE("recipe: data specs in one-line form", "[recipe]") {
  DataSpec d = parse_data_spec("npy{inputs=[a.npy,b.npy],labels=y.npy,samples=10}", "eval", "/d");
  CHECK(d.source == "npy");
  CHECK(d.inputs == std::vector<std::string>{"/d/a.npy", "/d/b.npy"});
  CHECK(d.labels == "/d/y.npy");
  CHECK(d.samples == 10);
  CHECK(parse_data_spec("fashion-mnist", "eval").effective_split() == "test");
  CHECK(parse_data_spec(d.str(), "eval").inputs == d.inputs);
  CHECK_THROWS_WITH(parse_data_spec("fashion-mnist{splt=test}", "eval"),
                    Contains("has no key 'splt' (did you mean 'split'?)"));
  CHECK_THROWS_WITH(parse_data_spec("text{path=a.txt}", "eval"), Contains("needs 'window'"));
}

TEST_CASE("recipe: the registry describes every pass's options", "[recipe]") {
  std::vector<OptionInfo> options = PassRegistry::global().options("lowrank");
  auto find = [&](const std::string& key) -> const OptionInfo* {
    for (const OptionInfo& o : options)
      if (o.key == key) return &o;
    return nullptr;
  };
  REQUIRE(find("ratio"));
  CHECK(find("ratio")->type == "number");
  REQUIRE(find("whiten"));
  CHECK(find("whiten")->type == "bool");
  REQUIRE(find("svd"));
  CHECK(find("svd")->allowed == std::vector<std::string>{"auto", "exact", "randomized"});
  CHECK(find("exclude")->type == "list");
  // prune-channels refuses to be built without a target, and is described all the same.
  std::vector<OptionInfo> prune = PassRegistry::global().options("prune-channels");
  CHECK(prune.size() >= 8);
  CHECK(PassRegistry::global().options("dce").empty());
}

TEST_CASE("recipe: sha256 matches the FIPS test vectors", "[recipe]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  CHECK(json_number(0.5) == "0.5");
  CHECK(json_number(3) == "3");
  CHECK(json_number(0.1) == "0.1");
  CHECK(json_string("a\"b\n") == "\"a\\\"b\\n\"");
}
