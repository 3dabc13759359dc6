#pragma once
/// \file
/// The report of a recipe run: what went in (model, recipe and data, each with its sha256), what
/// every step did to size, cost and quality, what came out, and the versions and seed that make
/// the run reproducible. Written as `report.json` (the stable, machine-readable form; see
/// docs/recipes.md for every field) and as Markdown for people.

#include "shrink/pass/pass.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace shrink {

/// Size, cost and quality of a model at one point of a recipe.
struct ModelMeasure {
  int64_t params = 0;           ///< `GraphStats::parameters`.
  int64_t bytes = 0;            ///< `GraphStats::parameter_bytes`.
  int64_t flops = 0;            ///< `GraphStats::flops` per sample.
  std::optional<double> metric; ///< The eval metric, when the recipe has eval data.
  /// Median milliseconds per run on `latency_batch` eval samples, when the recipe asks for it.
  std::optional<double> latency_ms;
};

/// A file that went into or came out of a run.
struct FileDigest {
  std::string path;   ///< The path as used (absolute).
  std::string sha256; ///< Lower-case hex sha256 of the file's bytes.
};

/// One data set of the run.
struct DataReport {
  std::string role;              ///< "calibration", "train" or "eval".
  std::string spec;              ///< `DataSpec::str()`.
  std::string description;       ///< `DataSource::describe()`.
  int64_t samples = 0;           ///< Samples used.
  std::string metric;            ///< eval: the metric's name.
  std::vector<FileDigest> files; ///< Every file the data was read from.
};

/// One step of the run.
struct StepReport {
  std::string pass;                  ///< Registry name (or "fixpoint").
  Options options;                   ///< Options as given.
  double seconds = 0;                ///< Wall time of the pass.
  ModelMeasure after;                ///< The model after the step.
  bool changed = false;              ///< True when the pass changed the graph.
  Stats stats;                       ///< The pass's counters.
  std::vector<std::string> warnings; ///< The pass's warnings.
};

/// The whole report.
struct RecipeReport {
  FileDigest recipe;             ///< The recipe file (path "<string>" when not from a file).
  FileDigest input;              ///< The input model.
  ModelMeasure input_measure;    ///< The input model's size, cost and metric.
  std::string metric;            ///< The metric's name ("" without eval data).
  std::vector<DataReport> data;  ///< The data sets, in the order calibration, train, eval.
  std::vector<StepReport> steps; ///< One per recipe step.
  FileDigest output;             ///< The output model (empty path: not written).
  std::map<std::string, std::string> versions; ///< shrink and dependency versions.
  uint64_t seed = 0;                           ///< The recipe's seed.
  double seconds = 0;                          ///< Wall time of the whole run.

  /// The report as JSON, keys in a fixed order:
  /// `{"recipe", "input", "data", "steps", "output", "versions", "seed", "seconds"}`.
  std::string to_json() const;
  /// The report as a Markdown document with a table of the steps.
  std::string to_markdown() const;
};

/// Lower-case hex sha256 of `bytes`.
std::string sha256_hex(const std::string& bytes);

/// Lower-case hex sha256 of a file, streamed. Throws `Error` naming the file when it cannot be
/// read.
std::string sha256_file(const std::string& path);

/// `text` as a JSON string literal, quotes included.
std::string json_string(const std::string& text);

/// A number as JSON: integers without a fraction, others with up to 17 significant digits
/// (the shortest text that reads back exactly); NaN and infinities become null.
std::string json_number(double value);

} // namespace shrink
