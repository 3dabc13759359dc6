// Runs a validated recipe step by step through a RecipeEnvironment and builds its report.

#include "shrink/recipe/runner.h"

#include "shrink/core/error.h"
#include "shrink/ir/shape_inference.h"
#include "shrink/ir/stats.h"
#include "shrink/pass/pass_manager.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <filesystem>

#ifndef SHRINK_VERSION_STRING
#define SHRINK_VERSION_STRING "0.0.0"
#endif
#ifndef SHRINK_YAML_CPP_VERSION
#define SHRINK_YAML_CPP_VERSION "unknown"
#endif

namespace shrink {

namespace fs = std::filesystem;

namespace {

double now_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

// Stats on a clone: shape inference only retypes values, but the graph that goes on to the next
// step (and into the output file) should be exactly what the passes left.
ModelMeasure measure(const Graph& graph) {
  Graph copy = graph.clone();
  try {
    infer_shapes(copy);
  } catch (const Error&) {
    // FLOPs become a lower bound; parameters and bytes do not depend on shapes.
  }
  GraphStats s = graph_stats(copy);
  ModelMeasure m;
  m.params = s.parameters;
  m.bytes = s.parameter_bytes;
  m.flops = s.flops;
  return m;
}

void make_parent_dir(const std::string& path) {
  if (path.empty()) return;
  fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec)
    throw Error("cannot create the folder '" + parent.string() + "' for '" + path +
                "': " + ec.message());
}

std::string markdown_path(const std::string& json_path) {
  fs::path p(json_path);
  return p.replace_extension(".md").string();
}

} // namespace

std::map<std::string, std::string> recipe_layer_versions() {
  return {{"shrink", SHRINK_VERSION_STRING}, {"yaml-cpp", SHRINK_YAML_CPP_VERSION}};
}

RecipeReport run_recipe(const Recipe& recipe, RecipeEnvironment& env,
                        const RecipeRunOptions& options) {
  const double start = now_seconds();
  RecipeReport report;
  report.seed = recipe.seed;
  report.versions = recipe_layer_versions();
  for (const auto& [k, v] : env.versions())
    report.versions[k] = v;
  report.recipe = {recipe.source, sha256_hex(recipe.text)};
  if (recipe.eval) report.metric = recipe.eval->effective_metric();

  // Everything that can fail before work starts: data files, folders, the trainer, the model.
  std::vector<OpenedData> opened;
  for (const DataSpec* spec : recipe.data()) {
    OpenedData d = env.open_data(*spec, recipe.seed);
    DataReport r;
    r.role = spec->role;
    r.spec = spec->str();
    r.description = d.source->describe();
    r.samples = d.source->size();
    if (spec->role == "eval") r.metric = spec->effective_metric();
    for (const std::string& f : d.files)
      r.files.push_back({f, sha256_file(f)});
    report.data.push_back(std::move(r));
    opened.push_back(std::move(d));
  }
  auto source_of = [&](const std::string& role) -> const DataSource* {
    for (size_t i = 0; i < report.data.size(); ++i)
      if (report.data[i].role == role) return opened[i].source.get();
    return nullptr;
  };
  PassContext ctx;
  ctx.calibration = source_of("calibration");
  ctx.train = source_of("train");
  ctx.eval = source_of("eval");
  ctx.trainer = env.trainer();
  ctx.seed = recipe.seed;
  ctx.progress = options.progress;
  ctx.log = options.log;
  try {
    PassManager(recipe.steps).validate(ctx);
  } catch (const RecipeError& e) {
    throw RecipeError("recipe " + recipe.source + ": " + e.what());
  }
  if (options.write_files) {
    make_parent_dir(recipe.output);
    make_parent_dir(recipe.report);
  }
  Graph graph = env.load_model(recipe.model);
  report.input = {recipe.model, sha256_file(recipe.model)};
  Graph teacher = recipe.teacher.empty() ? graph.clone() : env.load_model(recipe.teacher);
  ctx.teacher = &teacher;
  Executor& executor = env.executor(recipe);
  ctx.executor = &executor;

  auto evaluate = [&](const Graph& g) -> std::optional<double> {
    if (!ctx.eval) return std::nullopt;
    ProgressFn progress;
    if (options.progress)
      progress = [&](int64_t done, int64_t total, const std::string&) {
        options.progress(done, total, "eval");
      };
    return env.evaluate(g, *ctx.eval, *recipe.eval, executor, progress);
  };

  // Latency on the first eval samples, with the executor the recipe evaluates with.
  std::optional<Batch> latency_batch;
  if (recipe.latency_batch > 0 && ctx.eval)
    latency_batch = ctx.eval->batch(0, recipe.latency_batch);
  auto latency = [&](const Graph& g) -> std::optional<double> {
    if (!latency_batch) return std::nullopt;
    executor.run(g, latency_batch->inputs); // warm-up: plans and packs weights
    std::vector<double> ms;
    for (int i = 0; i < 10; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      executor.run(g, latency_batch->inputs);
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
  };

  report.input_measure = measure(graph);
  report.input_measure.metric = evaluate(graph);
  report.input_measure.latency_ms = latency(graph);
  if (options.on_step) {
    StepReport input;
    input.pass = "input";
    input.after = report.input_measure;
    options.on_step(SIZE_MAX, input);
  }

  for (size_t i = 0; i < recipe.steps.size(); ++i) {
    const PassSpec& spec = recipe.steps[i];
    if (options.on_step_start) options.on_step_start(i, spec.name);
    const std::string where = "step " + std::to_string(i + 1) + " (" + spec.name + ")";
    PipelineReport pr;
    try {
      pr = PassManager({spec}).run(graph, ctx);
    } catch (const VerifyError&) {
      throw; // Its diagnostics already name the pass.
    } catch (const RecipeError& e) {
      throw RecipeError(where + ": " + e.what());
    } catch (const UnsupportedError&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(where + ": " + e.what());
    }
    StepReport step;
    step.pass = spec.name;
    step.options = spec.options;
    step.seconds = pr.seconds;
    for (const PassRecord& r : pr.passes) {
      if (r.automatic) continue;
      step.changed = r.changed;
      step.stats = r.stats;
      step.warnings = r.warnings;
    }
    step.after = measure(graph);
    step.after.metric = evaluate(graph);
    step.after.latency_ms = latency(graph);
    if (options.on_step) options.on_step(i, step);
    report.steps.push_back(std::move(step));
  }

  if (!recipe.output.empty()) {
    report.output.path = recipe.output;
    if (options.write_files) {
      env.save_model(graph, recipe.output);
      report.output.sha256 = sha256_file(recipe.output);
    }
  }
  report.seconds = now_seconds() - start;
  if (!recipe.report.empty() && options.write_files) {
    env.write_file(recipe.report, report.to_json());
    env.write_file(markdown_path(recipe.report), report.to_markdown());
  }
  return report;
}

} // namespace shrink
