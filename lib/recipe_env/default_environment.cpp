// The default recipe environment: io/ for files and data, exec/ for running models.

#include "shrink/recipe/default_environment.h"

#include "shrink/core/error.h"
#include "shrink/exec/onednn.h"
#include "shrink/exec/reference.h"
#include "shrink/io/datasets.h"
#include "shrink/io/files.h"
#include "shrink/io/model.h"
#include "shrink/ir/evaluate.h"
#include "shrink/torch/factory.h"

#include <filesystem>
#include <sstream>

#ifndef SHRINK_DEPENDENCY_VERSIONS
#define SHRINK_DEPENDENCY_VERSIONS ""
#endif

namespace shrink {

namespace fs = std::filesystem;

namespace {

CharTokenizer tokenizer_for(const DataSpec& spec) {
  return spec.vocab.empty() ? CharTokenizer::printable_ascii() : CharTokenizer::load(spec.vocab);
}

void require_file(const std::string& path, const DataSpec& spec, const std::string& what) {
  if (!fs::exists(path))
    throw Error("data." + spec.role + ": " + what + " '" + path + "' does not exist");
}

} // namespace

OpenedData open_data_spec(const DataSpec& spec, uint64_t seed) {
  OpenedData out;
  std::shared_ptr<const DataSource> source;
  const std::string split = spec.effective_split();
  if (spec.role == "eval") Metric::parse(spec.effective_metric());
  if (spec.source == "fashion-mnist") {
    const std::string dir = spec.dir.empty() ? fashion_mnist_dir() : spec.dir;
    source = fashion_mnist(split, -1, dir);
    const std::string prefix = split == "train" ? "train" : "t10k";
    for (const char* kind : {"-images-idx3-ubyte", "-labels-idx1-ubyte"}) {
      std::string f = (fs::path(dir) / (prefix + kind)).string();
      out.files.push_back(fs::exists(f) ? f : f + ".gz");
    }
  } else if (spec.source == "npy") {
    for (const std::string& f : spec.inputs)
      require_file(f, spec, "inputs file");
    if (!spec.labels.empty()) require_file(spec.labels, spec, "labels file");
    source = std::make_shared<NpyDataSource>(spec.inputs, spec.labels);
    out.files = spec.inputs;
    if (!spec.labels.empty()) out.files.push_back(spec.labels);
  } else if (spec.source == "text") {
    require_file(spec.path, spec, "text file");
    source =
        text_file(spec.path, tokenizer_for(spec), spec.window, split, spec.validation_fraction);
    out.files.push_back(spec.path);
  } else if (spec.source == "fortunes") {
    const std::string dir = spec.dir.empty() ? fortunes_dir() : spec.dir;
    source = fortunes(split, tokenizer_for(spec), spec.window, spec.validation_fraction, dir);
    for (const std::string& f : fortune_files())
      out.files.push_back((fs::path(dir) / f).string());
  } else {
    throw RecipeError("data." + spec.role + ": unknown source '" + spec.source + "'");
  }
  if (!spec.vocab.empty()) out.files.push_back(spec.vocab);
  if (spec.samples >= 0 && spec.samples < source->size())
    source = random_subset(source, spec.samples, seed);
  out.source = std::move(source);
  return out;
}

DefaultEnvironment::DefaultEnvironment() = default;
DefaultEnvironment::~DefaultEnvironment() = default;

Trainer* DefaultEnvironment::trainer() {
  if (trainer_) return trainer_;
  if (!own_trainer_) own_trainer_ = make_torch_trainer();
  return own_trainer_.get();
}

Graph DefaultEnvironment::load_model(const std::string& path) {
  return shrink::load_model(path);
}

void DefaultEnvironment::save_model(const Graph& graph, const std::string& path) {
  shrink::save_model(graph, path);
}

void DefaultEnvironment::write_file(const std::string& path, const std::string& bytes) {
  write_file_atomically(path, bytes);
}

OpenedData DefaultEnvironment::open_data(const DataSpec& spec, uint64_t seed) {
  return open_data_spec(spec, seed);
}

Executor& DefaultEnvironment::executor(const Recipe& recipe) {
  const std::string key = recipe.executor + "/" + std::to_string(recipe.threads);
  if (!executor_ || key != executor_key_) {
    if (recipe.executor == "reference")
      executor_ = std::make_unique<ReferenceExecutor>();
    else
      executor_ = std::make_unique<OneDnnExecutor>(OneDnnOptions{recipe.threads});
    executor_key_ = key;
  }
  return *executor_;
}

double DefaultEnvironment::evaluate(const Graph& graph, const DataSource& data,
                                    const DataSpec& spec, Executor& executor,
                                    const ProgressFn& progress) {
  EvalOptions o;
  o.batch_size = spec.batch_size;
  o.progress = progress;
  return shrink::evaluate(graph, data, spec.effective_metric(), executor, o).value;
}

std::map<std::string, std::string> DefaultEnvironment::versions() const {
  std::map<std::string, std::string> out;
  std::stringstream ss(SHRINK_DEPENDENCY_VERSIONS);
  for (std::string item; std::getline(ss, item, ',');) {
    auto eq = item.find('=');
    if (eq != std::string::npos) out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

} // namespace shrink
