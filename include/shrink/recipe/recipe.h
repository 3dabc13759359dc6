#pragma once
/// \file
/// Recipes: a YAML file that names an input model, its data, a list of passes and where the
/// result goes. The steps are the same `PassSpec` list that pipeline text spells, so a recipe's
/// steps can be written either way (see docs/recipes.md):
///
/// ```yaml
/// model: teacher.onnx
/// data:
///   calibration: {source: fashion-mnist, split: train, samples: 512}
///   eval:        {source: npy, inputs: x_test.npy, labels: y_test.npy, metric: accuracy}
/// steps:
///   - prune-channels: {ratio: 0.5, criterion: l1}
///   - lowrank{ratio=0.5}          # pipeline text works as a step too
/// output: out/model.onnx
/// report: out/report.json
/// ```
///
/// Loading is strict: an unknown key, a misspelled pass name or option, a wrong value type or a
/// missing requirement is a `RecipeError` that lists every problem with its line and column and
/// suggests the closest known name. Relative paths are relative to the recipe file.

#include "shrink/pass/pipeline.h"
#include "shrink/pass/registry.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shrink {

/// One data set of a recipe (`data.calibration`, `data.train` or `data.eval`).
///
/// Sources and their keys:
/// - `fashion-mnist`: `split` (train or test; default train, test for `eval`), `dir` (the IDX
///   folder; default `fashion_mnist_dir()`).
/// - `npy`: `inputs` (one `.npy` file, or a list with one file per model input), `labels`
///   (optional). Arrays are used exactly as stored: no normalization is added.
/// - `text`: `path` (a UTF-8 text file), `window` (tokens per sample), `vocab` (a vocabulary
///   JSON file; default the 98-character printable-ASCII table), `split` (all, train or
///   validation; default all), `validation_fraction` (default 0.1).
/// - `fortunes`: the Debian fortunes collection, with `window`, `vocab`, `split` (default
///   validation for `eval`, train otherwise) and `validation_fraction` as for `text`.
///
/// Every source also takes `samples` (use that many samples, picked at random with the recipe's
/// seed, in their original order) and `batch_size` (samples per executor run, default 64);
/// `eval` also takes `metric` (an `evaluate` metric name, default accuracy).
struct DataSpec {
  std::string role;                 ///< "calibration", "train" or "eval".
  std::string source;               ///< "fashion-mnist", "npy", "text" or "fortunes".
  std::string split;                ///< The split (empty: the source's default for the role).
  std::string dir;                  ///< fashion-mnist: the IDX folder (empty: the default).
  std::vector<std::string> inputs;  ///< npy: input files (absolute after loading).
  std::string labels;               ///< npy: labels file (absolute; empty: none).
  std::string path;                 ///< text: the text file (absolute).
  std::string vocab;                ///< text, fortunes: vocabulary JSON (absolute; empty: ASCII).
  int64_t window = 0;               ///< text, fortunes: tokens per sample.
  double validation_fraction = 0.1; ///< text, fortunes: share of the validation split.
  int64_t samples = -1;             ///< Samples to use (-1: all).
  int64_t batch_size = 64;          ///< Samples per executor run.
  std::string metric;               ///< eval: the metric (empty: accuracy).
  int line = 0;                     ///< 1-based line of the spec in its file (0: not from a file).

  /// The split this spec reads: `split`, or the source's default for `role`.
  std::string effective_split() const;
  /// The metric this spec scores: `metric`, or "accuracy".
  std::string effective_metric() const { return metric.empty() ? "accuracy" : metric; }
  /// The spec in the compact one-line form `parse_data_spec` reads
  /// (`fashion-mnist{samples=512,split=train}`).
  std::string str() const;
};

/// A parsed, validated recipe. Paths are absolute (resolved against the recipe's folder).
struct Recipe {
  std::string source;   ///< The recipe file, or "<string>".
  std::string base_dir; ///< The folder relative paths were resolved against.
  std::string text;     ///< The recipe's text exactly as read (hashed into the report).
  std::string model;    ///< The input model.
  std::string teacher;  ///< Optional teacher model for distillation (empty: the input model).
  std::optional<DataSpec> calibration; ///< `data.calibration`.
  std::optional<DataSpec> train;       ///< `data.train`.
  std::optional<DataSpec> eval;        ///< `data.eval`.
  std::vector<PassSpec> steps;         ///< The passes, in order.
  std::string output;                  ///< Where the final model is written (empty: nowhere).
  std::string report;                  ///< Where report.json is written (empty: nowhere).
  uint64_t seed = 0;                   ///< Seed of every random choice (`PassContext::seed`).
  std::string executor = "onednn";     ///< "onednn" or "reference": runs evaluation/calibration.
  int threads = 0;                     ///< Executor threads (0: all cores).
  /// When > 0, the latency of the input model and after every step is measured on the first
  /// `latency_batch` eval samples (median of 10 timed runs after a warm-up; key `latency_batch`).
  int64_t latency_batch = 0;

  /// The steps as pipeline text (`print_pipeline(steps)`).
  std::string pipeline() const;
  /// The data specs that are set, in the order calibration, train, eval.
  std::vector<const DataSpec*> data() const;
};

/// One `--set key=value` override, applied to a recipe before it is validated.
///
/// Keys: a top-level scalar (`seed`, `model`, `output`, `report`, `teacher`, `executor`,
/// `threads`), `data.<role>.<key>` (`data.eval.samples=1000`), or `<pass>.<option>` for a step
/// (`prune-channels.ratio=0.3`; `<pass>#2.<option>` for the second step with that name).
struct RecipeOverride {
  std::string key;   ///< The dotted key.
  std::string value; ///< The value as YAML scalar text ("0.3", "[a, b]", "out/x.onnx").

  /// Splits "key=value"; throws `RecipeError` when there is no '='.
  static RecipeOverride parse(const std::string& text);
};

/// Loads and validates a recipe file (see `parse_recipe`).
Recipe load_recipe(const std::string& path, const std::vector<RecipeOverride>& overrides = {},
                   const PassRegistry& registry = PassRegistry::global());

/// Parses and validates recipe YAML. `source` names it in errors; relative paths are resolved
/// against `base_dir` (the current folder when empty). Validation covers the whole recipe:
/// unknown keys (with the closest known key), value types, data sources and their keys, every
/// step's pass name and options (by building the pass), and every pass's needs (calibration,
/// train or eval data). Throws `ParseError` for YAML that does not parse and one `RecipeError`
/// listing every other problem as `file:line:column: message`.
Recipe parse_recipe(const std::string& yaml, const std::string& source = "<string>",
                    const std::string& base_dir = "",
                    const std::vector<RecipeOverride>& overrides = {},
                    const PassRegistry& registry = PassRegistry::global());

/// The steps of a YAML `steps:` list given as YAML text ("- dce\n- lowrank: {ratio: 0.5}").
/// The same list as `parse_pipeline` gives for the equivalent pipeline text.
std::vector<PassSpec> parse_steps_yaml(const std::string& yaml,
                                       const std::string& source = "<string>");

/// The steps as a YAML list, one `- name: {key: value}` item per step (fixpoints as
/// `- fixpoint: {max_rounds: .., steps: [..]}`); `parse_steps_yaml(steps_to_yaml(s)) == s`.
std::string steps_to_yaml(const std::vector<PassSpec>& steps);

/// A data spec from its one-line form, as the CLI takes it: `SOURCE` or `SOURCE{key=value,...}`
/// with the keys of `DataSpec` (`npy{inputs=[x.npy],labels=y.npy}`,
/// `fashion-mnist{split=test,samples=1000}`). Relative paths are resolved against `base_dir`.
/// Throws `RecipeError` for unknown sources or keys, `ParseError` for malformed text.
DataSpec parse_data_spec(const std::string& text, const std::string& role,
                         const std::string& base_dir = "");

/// The known data source names.
const std::vector<std::string>& data_source_names();

} // namespace shrink
