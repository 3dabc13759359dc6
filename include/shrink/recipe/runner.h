#pragma once
/// \file
/// Runs a recipe: loads the model and data through a `RecipeEnvironment`, runs the steps one by
/// one with a shared `PassContext` (the teacher is the input model for every step), measures the
/// model after each step, writes the output model and the report.
///
/// ```cpp
/// shrink::Recipe recipe = shrink::load_recipe("examples/recipes/fmnist-lowrank.yaml");
/// shrink::DefaultEnvironment env;            // io + oneDNN, in shrink_recipe_env
/// shrink::RecipeReport report = shrink::run_recipe(recipe, env);
/// ```
///
/// The recipe layer depends only on the pass layer and yaml-cpp; files, data sets and execution
/// come in through the environment, so that this layer stays small and testable with fakes.

#include "shrink/ir/graph.h"
#include "shrink/ir/interfaces.h"
#include "shrink/recipe/recipe.h"
#include "shrink/recipe/report.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace shrink {

/// A data set opened for a recipe: the source and the files it reads.
struct OpenedData {
  std::shared_ptr<const DataSource> source; ///< The samples (after `samples` was applied).
  std::vector<std::string> files;           ///< Every file it reads, for the report's sha256.
};

/// What a recipe run needs from the outside world.
class RecipeEnvironment {
public:
  virtual ~RecipeEnvironment() = default;
  /// Loads a model file.
  virtual Graph load_model(const std::string& path) = 0;
  /// Writes a model file atomically.
  virtual void save_model(const Graph& graph, const std::string& path) = 0;
  /// Writes a text file atomically (the report).
  virtual void write_file(const std::string& path, const std::string& bytes) = 0;
  /// Opens a data set; `seed` picks the samples when `spec.samples` is set.
  virtual OpenedData open_data(const DataSpec& spec, uint64_t seed) = 0;
  /// The executor passes use (calibration) and evaluation runs on, configured from the recipe's
  /// `executor` and `threads`.
  virtual Executor& executor(const Recipe& recipe) = 0;
  /// The trainer for passes that need gradients or training; nullptr when none is available.
  virtual Trainer* trainer() { return nullptr; }
  /// Scores `graph` on `data` with the spec's metric and batch size.
  virtual double evaluate(const Graph& graph, const DataSource& data, const DataSpec& spec,
                          Executor& executor, const ProgressFn& progress) = 0;
  /// Versions of the libraries the environment runs on ("onednn" -> "2.6.3").
  virtual std::map<std::string, std::string> versions() const { return {}; }
};

/// Options of `run_recipe`.
struct RecipeRunOptions {
  /// Progress of long work: (done, total, status). Status names the phase ("eval", a pass).
  ProgressFn progress;
  /// Called when a step starts, with its index and the pass name.
  std::function<void(size_t index, const std::string& pass)> on_step_start;
  /// Called after each step with its report (and once with index `SIZE_MAX` for the input).
  std::function<void(size_t index, const StepReport& step)> on_step;
  /// Human-readable notes of the passes (may be null).
  std::ostream* log = nullptr;
  /// When false, the output model and the report are not written (their paths are still
  /// reported, with empty sha256).
  bool write_files = true;
};

/// Validates the recipe against the environment (every pass's needs, including a trainer),
/// opens every data set and loads the model before any pass runs, then runs the steps and
/// writes the output model and the report (JSON at `recipe.report`, and Markdown beside it
/// with extension `.md`). Returns the report. Throws `RecipeError` for an invalid recipe and
/// whatever a failing step throws, with the step named.
RecipeReport run_recipe(const Recipe& recipe, RecipeEnvironment& env,
                        const RecipeRunOptions& options = {});

/// The shrink and dependency versions the recipe layer knows itself ("shrink", "yaml-cpp").
std::map<std::string, std::string> recipe_layer_versions();

} // namespace shrink
