#pragma once
/// \file
/// The environment recipes normally run in: models through `load_model`/`save_model` (ONNX or
/// IR text), data sets from io/datasets.h, evaluation with `evaluate` on the oneDNN runtime (or
/// the reference executor), training on the LibTorch trainer (through the torch-free
/// torch/factory.h). It lives in its own library, `shrink_recipe_env`, because it reaches io/,
/// exec/ and torch/, which the recipe layer itself may not; the `shrink` umbrella target links it.

#include "shrink/recipe/runner.h"

#include <memory>

namespace shrink {

/// The default `RecipeEnvironment`; see the file comment.
class DefaultEnvironment : public RecipeEnvironment {
public:
  /// An environment whose trainer is the LibTorch trainer, made on first use.
  DefaultEnvironment();
  ~DefaultEnvironment() override;

  /// Loads `.onnx` or `.mir` files.
  Graph load_model(const std::string& path) override;
  /// Saves `.onnx` or `.mir` files atomically.
  void save_model(const Graph& graph, const std::string& path) override;
  /// Writes through a temporary file and a rename.
  void write_file(const std::string& path, const std::string& bytes) override;
  /// Opens Fashion-MNIST, `.npy`, text or fortunes data. `spec.samples` picks that many samples
  /// with `random_subset(seed)`. An eval spec's metric is checked here (an unknown metric names
  /// the closest known one), so that a bad metric fails before any pass runs.
  OpenedData open_data(const DataSpec& spec, uint64_t seed) override;
  /// A oneDNN executor with the recipe's thread count, or the reference executor.
  Executor& executor(const Recipe& recipe) override;
  /// The trainer given with `set_trainer`, else the LibTorch trainer (made on first use).
  Trainer* trainer() override;
  /// `evaluate(graph, data, spec.effective_metric(), executor, {spec.batch_size})`.
  double evaluate(const Graph& graph, const DataSource& data, const DataSpec& spec,
                  Executor& executor, const ProgressFn& progress) override;
  /// oneDNN, ONNX, protobuf, Eigen and compiler versions (from the build).
  std::map<std::string, std::string> versions() const override;

  /// Uses `trainer` (not owned) instead of the LibTorch trainer.
  void set_trainer(Trainer* trainer) { trainer_ = trainer; }

private:
  std::unique_ptr<Executor> executor_;
  std::string executor_key_;
  Trainer* trainer_ = nullptr;
  std::unique_ptr<Trainer> own_trainer_;
};

/// Opens the data set `spec` describes (see `DefaultEnvironment::open_data`); for the CLI and
/// the bindings, which open data outside recipes too.
OpenedData open_data_spec(const DataSpec& spec, uint64_t seed = 0);

} // namespace shrink
