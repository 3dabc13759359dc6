// Recipe YAML: strict parsing into a Recipe, with every problem collected and located.

#include "shrink/recipe/recipe.h"

#include "shrink/core/error.h"
#include "shrink/pass/pass_manager.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

namespace shrink {

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kTopKeys = {"model",   "teacher", "data",        "steps",
                                           "output",  "report",  "seed",        "executor",
                                           "threads", "name",    "description", "latency_batch"};
const std::vector<std::string> kRoles = {"calibration", "train", "eval"};

// Keys each source accepts besides the common ones.
const std::vector<std::string>& source_keys(const std::string& source) {
  static const std::vector<std::string> fmnist = {"split", "dir"};
  static const std::vector<std::string> npy = {"inputs", "labels"};
  static const std::vector<std::string> text = {"path", "window", "vocab", "split",
                                                "validation_fraction"};
  static const std::vector<std::string> fortunes = {"window", "vocab", "split",
                                                    "validation_fraction", "dir"};
  static const std::vector<std::string> none;
  if (source == "fashion-mnist") return fmnist;
  if (source == "npy") return npy;
  if (source == "text") return text;
  if (source == "fortunes") return fortunes;
  return none;
}

std::vector<std::string> split_names(const std::string& source) {
  if (source == "fashion-mnist") return {"train", "test"};
  if (source == "text" || source == "fortunes") return {"all", "train", "validation"};
  return {};
}

std::string join(const std::vector<std::string>& items, const std::string& sep = ", ") {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i)
    out += (i ? sep : "") + items[i];
  return out;
}

std::string suggestion(const std::string& name, const std::vector<std::string>& known) {
  std::string hint = closest_name(name, known);
  return hint.empty() ? "" : " (did you mean '" + hint + "'?)";
}

// Every problem found while reading a recipe, each with its location.
struct Problems {
  std::string source;
  std::vector<std::string> items;

  void add(const YAML::Mark& mark, const std::string& message) {
    if (mark.is_null())
      items.push_back(source + ": " + message);
    else
      items.push_back(source + ":" + std::to_string(mark.line + 1) + ":" +
                      std::to_string(mark.column + 1) + ": " + message);
  }
  void add(const YAML::Node& node, const std::string& message) { add(node.Mark(), message); }
  void add(const std::string& message) { items.push_back(source + ": " + message); }

  void throw_if_any() const {
    if (items.empty()) return;
    std::string message = "recipe " + source + " is invalid (" + std::to_string(items.size()) +
                          (items.size() == 1 ? " problem" : " problems") + "):";
    for (const std::string& item : items)
      message += "\n  " + item;
    throw RecipeError(message);
  }
};

std::string resolve_path(const std::string& path, const std::string& base_dir) {
  if (path.empty()) return path;
  fs::path p(path);
  if (p.is_absolute()) return p.lexically_normal().string();
  return (fs::path(base_dir) / p).lexically_normal().string();
}

// A scalar or a list of scalars as option text; lists in the canonical "[a,b]" form that
// OptionReader::get_list reads.
bool option_text(const YAML::Node& value, std::string* out, Problems& problems,
                 const std::string& what) {
  if (value.IsNull()) {
    *out = "";
    return true;
  }
  if (value.IsScalar()) {
    *out = value.Scalar();
    return true;
  }
  if (value.IsSequence()) {
    std::string text = "[";
    bool first = true;
    for (const YAML::Node& item : value) {
      if (!item.IsScalar()) {
        problems.add(item, what + ": list elements must be plain values");
        return false;
      }
      text += (first ? "" : ",") + quote_option_value(item.Scalar());
      first = false;
    }
    *out = text + "]";
    return true;
  }
  problems.add(value, what + " must be a value or a list of values, not a mapping");
  return false;
}

struct LocatedStep {
  PassSpec spec;
  YAML::Mark mark;
};

void parse_step_node(const YAML::Node& item, Problems& problems, std::vector<LocatedStep>& out);

// Children of a fixpoint written in YAML: a list of steps.
std::vector<PassSpec> parse_children(const YAML::Node& list, Problems& problems) {
  std::vector<LocatedStep> located;
  for (const YAML::Node& child : list)
    parse_step_node(child, problems, located);
  std::vector<PassSpec> specs;
  for (auto& l : located)
    specs.push_back(std::move(l.spec));
  return specs;
}

void parse_step_node(const YAML::Node& item, Problems& problems, std::vector<LocatedStep>& out) {
  if (item.IsScalar()) {
    // Pipeline text: one pass ("dce", "lowrank{ratio=0.5}") or several ("a,b").
    try {
      for (PassSpec& spec : parse_pipeline(item.Scalar(), problems.source))
        out.push_back({std::move(spec), item.Mark()});
    } catch (const ParseError& e) {
      problems.add(item, std::string("bad pipeline text '") + item.Scalar() + "': " + e.what());
    }
    return;
  }
  if (!item.IsMap() || item.size() != 1) {
    problems.add(item, "a step is a pass name, pipeline text, or a one-key mapping "
                       "'pass-name: {option: value}'");
    return;
  }
  auto it = item.begin();
  const std::string name = it->first.Scalar();
  const YAML::Node& body = it->second;
  PassSpec spec = PassSpec::of(name);
  spec.line = static_cast<int>(it->first.Mark().line + 1);
  spec.column = static_cast<int>(it->first.Mark().column + 1);
  if (name == kFixpointPass) {
    // fixpoint: [a, b]   or   fixpoint: {max_rounds: 8, steps: [a, b]}
    if (body.IsSequence()) {
      spec.children = parse_children(body, problems);
    } else if (body.IsMap()) {
      for (const auto& kv : body) {
        const std::string key = kv.first.Scalar();
        if (key == "steps") {
          if (!kv.second.IsSequence())
            problems.add(kv.second, "fixpoint 'steps' must be a list of steps");
          else
            spec.children = parse_children(kv.second, problems);
        } else {
          std::string text;
          if (option_text(kv.second, &text, problems, "option '" + key + "' of fixpoint"))
            spec.options[key] = text;
        }
      }
    } else {
      problems.add(body, "fixpoint takes a list of steps or {steps: [...], max_rounds: N}");
    }
    if (spec.children.empty()) problems.add(item, "fixpoint needs at least one step");
    out.push_back({std::move(spec), it->first.Mark()});
    return;
  }
  if (body.IsMap()) {
    for (const auto& kv : body) {
      const std::string key = kv.first.Scalar();
      std::string text;
      if (option_text(kv.second, &text, problems, "option '" + key + "' of '" + name + "'"))
        spec.options[key] = text;
    }
  } else if (!body.IsNull()) {
    problems.add(body, "the options of '" + name + "' must be a mapping ({ratio: 0.5}); write '- " +
                           name + "' for a pass without options");
  }
  out.push_back({std::move(spec), it->first.Mark()});
}

std::vector<LocatedStep> parse_steps_node(const YAML::Node& steps, Problems& problems) {
  std::vector<LocatedStep> out;
  if (steps.IsScalar()) {
    parse_step_node(steps, problems, out);
  } else if (steps.IsSequence()) {
    for (const YAML::Node& item : steps)
      parse_step_node(item, problems, out);
  } else if (!steps.IsNull()) {
    problems.add(steps, "'steps' must be a list of passes or pipeline text");
  }
  return out;
}

// Reads typed data-spec values from option text, reporting problems at `mark`.
struct SpecReader {
  const Options& options;
  Problems& problems;
  YAML::Mark mark;
  std::string where;

  bool has(const std::string& key) const { return options.count(key) != 0; }
  std::string str(const std::string& key, const std::string& def = "") const {
    auto it = options.find(key);
    return it == options.end() ? def : it->second;
  }
  int64_t integer(const std::string& key, int64_t def, int64_t min) {
    if (!has(key)) return def;
    const std::string& text = options.at(key);
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end || errno == ERANGE) {
      problems.add(mark, where + ": '" + key + "' must be an integer, got '" + text + "'");
      return def;
    }
    if (v < min) {
      problems.add(mark,
                   where + ": '" + key + "' must be >= " + std::to_string(min) + ", got " + text);
      return def;
    }
    return v;
  }
  double number(const std::string& key, double def) {
    if (!has(key)) return def;
    const std::string& text = options.at(key);
    char* end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end || !std::isfinite(v)) {
      problems.add(mark, where + ": '" + key + "' must be a number, got '" + text + "'");
      return def;
    }
    return v;
  }
};

DataSpec data_spec_from_options(const std::string& role, const Options& options,
                                const std::string& base_dir, Problems& problems,
                                const YAML::Mark& mark) {
  DataSpec spec;
  spec.role = role;
  spec.line = mark.is_null() ? 0 : static_cast<int>(mark.line + 1);
  const std::string where = "data." + role;
  SpecReader r{options, problems, mark, where};
  if (!r.has("source")) {
    problems.add(mark, where + " needs a 'source': one of " + join(data_source_names()));
    return spec;
  }
  spec.source = r.str("source");
  const auto& names = data_source_names();
  if (std::find(names.begin(), names.end(), spec.source) == names.end()) {
    problems.add(mark, where + ": unknown source '" + spec.source + "'" +
                           suggestion(spec.source, names) + "; known sources: " + join(names));
    return spec;
  }
  std::vector<std::string> known = {"source", "samples", "batch_size"};
  if (role == "eval") known.push_back("metric");
  for (const std::string& k : source_keys(spec.source))
    known.push_back(k);
  for (const auto& [key, value] : options)
    if (std::find(known.begin(), known.end(), key) == known.end())
      problems.add(mark, where + " (" + spec.source + ") has no key '" + key + "'" +
                             suggestion(key, known) + "; known keys: " + join(known));

  spec.samples = r.integer("samples", -1, 1);
  spec.batch_size = r.integer("batch_size", 64, 1);
  spec.metric = r.str("metric");
  spec.split = r.str("split");
  if (!spec.split.empty()) {
    auto splits = split_names(spec.source);
    if (std::find(splits.begin(), splits.end(), spec.split) == splits.end())
      problems.add(mark, where + ": unknown split '" + spec.split + "'" +
                             suggestion(spec.split, splits) + " for source " + spec.source +
                             "; known splits: " + join(splits));
  }
  spec.dir = resolve_path(r.str("dir"), base_dir);
  if (spec.source == "npy") {
    if (!r.has("inputs")) {
      problems.add(mark, where + ": source npy needs 'inputs' (a .npy file or a list of them)");
    } else {
      try {
        for (const std::string& f : split_option_list(r.str("inputs")))
          spec.inputs.push_back(resolve_path(f, base_dir));
      } catch (const Error& e) {
        problems.add(mark, where + ": 'inputs': " + e.what());
      }
      if (spec.inputs.empty()) problems.add(mark, where + ": 'inputs' is empty");
    }
    spec.labels = resolve_path(r.str("labels"), base_dir);
  }
  if (spec.source == "text" || spec.source == "fortunes") {
    if (spec.source == "text") {
      spec.path = resolve_path(r.str("path"), base_dir);
      if (spec.path.empty()) problems.add(mark, where + ": source text needs 'path'");
    }
    spec.vocab = resolve_path(r.str("vocab"), base_dir);
    if (!r.has("window"))
      problems.add(mark, where + ": source " + spec.source + " needs 'window' (tokens per sample)");
    spec.window = r.integer("window", 0, 1);
    spec.validation_fraction = r.number("validation_fraction", 0.1);
    if (spec.validation_fraction < 0 || spec.validation_fraction > 1)
      problems.add(mark, where + ": 'validation_fraction' must be in [0, 1]");
  }
  return spec;
}

// A YAML mapping of data-spec keys as option text.
Options map_to_options(const YAML::Node& node, Problems& problems, const std::string& where) {
  Options options;
  for (const auto& kv : node) {
    std::string text;
    const std::string key = kv.first.Scalar();
    if (option_text(kv.second, &text, problems, where + "." + key)) options[key] = text;
  }
  return options;
}

std::string scalar(const YAML::Node& node, Problems& problems, const std::string& key) {
  if (!node.IsScalar()) {
    problems.add(node, "'" + key + "' must be a single value");
    return "";
  }
  return node.Scalar();
}

// Placeholder data for validating needs before anything is opened.
class NoData : public DataSource {
public:
  int64_t size() const override { return 0; }
  Batch batch(int64_t, int64_t) const override { return {}; }
  std::string describe() const override { return "placeholder"; }
};

// Applies `<pass>[#n].<option>=value` overrides to the steps; others were applied to the tree.
void apply_step_override(std::vector<PassSpec>& steps, const RecipeOverride& o,
                         Problems& problems) {
  const size_t dot = o.key.find('.');
  std::string pass = o.key.substr(0, dot);
  const std::string option = o.key.substr(dot + 1);
  int occurrence = 1;
  if (auto hash = pass.find('#'); hash != std::string::npos) {
    occurrence = std::atoi(pass.c_str() + hash + 1);
    pass = pass.substr(0, hash);
  }
  std::vector<PassSpec*> matches;
  for (PassSpec& s : steps)
    if (s.name == pass) matches.push_back(&s);
  if (matches.empty()) {
    std::vector<std::string> known = kTopKeys;
    for (const PassSpec& s : steps)
      known.push_back(s.name);
    problems.add("--set " + o.key + ": no top-level key or step named '" + pass + "'" +
                 suggestion(pass, known));
    return;
  }
  if (occurrence < 1 || occurrence > static_cast<int>(matches.size())) {
    problems.add("--set " + o.key + ": the recipe has " + std::to_string(matches.size()) +
                 " step(s) named '" + pass + "'");
    return;
  }
  if (matches.size() > 1 && o.key.find('#') == std::string::npos) {
    problems.add("--set " + o.key + ": the recipe has " + std::to_string(matches.size()) +
                 " steps named '" + pass + "'; say which with '" + pass + "#2." + option + "'");
    return;
  }
  // The value is YAML text, so "[a, b]" is a list as in the file.
  YAML::Node value;
  try {
    value = YAML::Load(o.value);
  } catch (const YAML::Exception&) {
    value = YAML::Node(o.value);
  }
  std::string text;
  if (option_text(value, &text, problems, "--set " + o.key))
    matches[occurrence - 1]->options[option] = text;
}

bool is_tree_key(const std::string& key) {
  const std::string first = key.substr(0, key.find('.'));
  return std::find(kTopKeys.begin(), kTopKeys.end(), first) != kTopKeys.end();
}

void apply_tree_override(YAML::Node root, const RecipeOverride& o, Problems& problems) {
  std::vector<std::string> parts;
  std::stringstream ss(o.key);
  for (std::string part; std::getline(ss, part, '.');)
    parts.push_back(part);
  YAML::Node value;
  try {
    value = YAML::Load(o.value);
  } catch (const YAML::Exception&) {
    value = YAML::Node(o.value);
  }
  if (parts[0] == "steps") {
    problems.add("--set " + o.key + ": set a step's option with <pass>.<option>=value");
    return;
  }
  if (parts.size() == 1) {
    root[parts[0]] = value;
  } else if (parts.size() == 3 && parts[0] == "data") {
    root["data"][parts[1]][parts[2]] = value;
  } else {
    problems.add("--set " + o.key +
                 ": expected a top-level key (seed=1), data.<role>.<key> or "
                 "<pass>.<option>");
  }
}

} // namespace

const std::vector<std::string>& data_source_names() {
  static const std::vector<std::string> names = {"fashion-mnist", "npy", "text", "fortunes"};
  return names;
}

std::string DataSpec::effective_split() const {
  if (!split.empty()) return split;
  if (source == "fashion-mnist") return role == "eval" ? "test" : "train";
  if (source == "fortunes") return role == "eval" ? "validation" : "train";
  if (source == "text") return "all";
  return "";
}

std::string DataSpec::str() const {
  PassSpec spec = PassSpec::of(source);
  if (!split.empty()) spec.options["split"] = split;
  if (!dir.empty()) spec.options["dir"] = dir;
  if (!inputs.empty()) {
    std::string text = "[";
    for (size_t i = 0; i < inputs.size(); ++i)
      text += (i ? "," : "") + quote_option_value(inputs[i]);
    spec.options["inputs"] = text + "]";
  }
  if (!labels.empty()) spec.options["labels"] = labels;
  if (!path.empty()) spec.options["path"] = path;
  if (!vocab.empty()) spec.options["vocab"] = vocab;
  if (window > 0) spec.options["window"] = std::to_string(window);
  if (samples >= 0) spec.options["samples"] = std::to_string(samples);
  if (batch_size != 64) spec.options["batch_size"] = std::to_string(batch_size);
  if (!metric.empty()) spec.options["metric"] = metric;
  return print_pipeline({spec});
}

std::string Recipe::pipeline() const {
  return print_pipeline(steps);
}

std::vector<const DataSpec*> Recipe::data() const {
  std::vector<const DataSpec*> out;
  for (const auto* d : {&calibration, &train, &eval})
    if (d->has_value()) out.push_back(&**d);
  return out;
}

RecipeOverride RecipeOverride::parse(const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw RecipeError("--set '" + text + "': expected key=value (e.g. prune-channels.ratio=0.3)");
  return {text.substr(0, eq), text.substr(eq + 1)};
}

Recipe load_recipe(const std::string& path, const std::vector<RecipeOverride>& overrides,
                   const PassRegistry& registry) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read recipe '" + path + "': " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  const std::string base = fs::absolute(fs::path(path)).parent_path().string();
  return parse_recipe(text.str(), path, base, overrides, registry);
}

Recipe parse_recipe(const std::string& yaml, const std::string& source, const std::string& base_dir,
                    const std::vector<RecipeOverride>& overrides, const PassRegistry& registry) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::ParserException& e) {
    throw ParseError(source, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  Problems problems{source, {}};
  if (!root.IsMap()) {
    problems.add(root, "a recipe is a mapping with at least 'model' and 'steps'");
    problems.throw_if_any();
  }
  Recipe recipe;
  recipe.source = source;
  recipe.base_dir = base_dir.empty() ? fs::current_path().string() : base_dir;
  recipe.text = yaml;

  for (const RecipeOverride& o : overrides)
    if (is_tree_key(o.key)) apply_tree_override(root, o, problems);

  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    if (std::find(kTopKeys.begin(), kTopKeys.end(), key) == kTopKeys.end())
      problems.add(kv.first, "unknown key '" + key + "'" + suggestion(key, kTopKeys) +
                                 "; known keys: " + join(kTopKeys));
  }
  auto path_key = [&](const char* key) {
    const YAML::Node node = root[key];
    return node ? resolve_path(scalar(node, problems, key), recipe.base_dir) : std::string();
  };
  recipe.model = path_key("model");
  if (!root["model"]) problems.add(root, "missing 'model' (the input model file)");
  recipe.teacher = path_key("teacher");
  recipe.output = path_key("output");
  recipe.report = path_key("report");
  if (const YAML::Node seed = root["seed"]) {
    const std::string text = scalar(seed, problems, "seed");
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || *end || errno == ERANGE || text[0] == '-')
      problems.add(seed, "'seed' must be a non-negative integer, got '" + text + "'");
    else
      recipe.seed = v;
  }
  if (const YAML::Node ex = root["executor"]) {
    recipe.executor = scalar(ex, problems, "executor");
    if (recipe.executor != "onednn" && recipe.executor != "reference")
      problems.add(ex, "'executor' must be onednn or reference, got '" + recipe.executor + "'" +
                           suggestion(recipe.executor, {"onednn", "reference"}));
  }
  if (const YAML::Node th = root["threads"]) {
    const std::string text = scalar(th, problems, "threads");
    char* end = nullptr;
    long v = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end || v < 0)
      problems.add(th, "'threads' must be an integer >= 0 (0: all cores), got '" + text + "'");
    else
      recipe.threads = static_cast<int>(v);
  }
  if (const YAML::Node lb = root["latency_batch"]) {
    const std::string text = scalar(lb, problems, "latency_batch");
    char* end = nullptr;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end || v < 0)
      problems.add(lb,
                   "'latency_batch' must be an integer >= 0 (0: no latency), got '" + text + "'");
    else
      recipe.latency_batch = v;
  }
  if (const YAML::Node data = root["data"]) {
    if (!data.IsMap()) {
      problems.add(data, "'data' must be a mapping of calibration, train and eval");
    } else {
      for (const auto& kv : data) {
        const std::string role = kv.first.Scalar();
        if (std::find(kRoles.begin(), kRoles.end(), role) == kRoles.end()) {
          problems.add(kv.first, "unknown data role '" + role + "'" + suggestion(role, kRoles) +
                                     "; known roles: " + join(kRoles));
          continue;
        }
        if (!kv.second.IsMap()) {
          problems.add(kv.second, "data." + role + " must be a mapping with a 'source'");
          continue;
        }
        Options options = map_to_options(kv.second, problems, "data." + role);
        DataSpec spec =
            data_spec_from_options(role, options, recipe.base_dir, problems, kv.first.Mark());
        if (role == "calibration") recipe.calibration = spec;
        if (role == "train") recipe.train = spec;
        if (role == "eval") recipe.eval = spec;
      }
    }
  }

  std::vector<LocatedStep> steps;
  if (!root["steps"])
    problems.add(root, "missing 'steps' (a list of passes)");
  else
    steps = parse_steps_node(root["steps"], problems);
  for (auto& s : steps)
    recipe.steps.push_back(s.spec);
  for (const RecipeOverride& o : overrides)
    if (!is_tree_key(o.key)) {
      if (o.key.find('.') == std::string::npos)
        problems.add("--set " + o.key + ": unknown key" + suggestion(o.key, kTopKeys) +
                     "; known keys: " + join(kTopKeys) + ", or <pass>.<option>");
      else
        apply_step_override(recipe.steps, o, problems);
    }

  // Every step's name and options, each located; then the needs of the whole pipeline.
  bool steps_ok = true;
  std::function<void(const PassSpec&, const YAML::Mark&)> check_step = [&](const PassSpec& s,
                                                                           const YAML::Mark& m) {
    if (s.name == kFixpointPass) {
      for (const PassSpec& c : s.children)
        check_step(c, m);
      return;
    }
    try {
      registry.create(s.name, s.options);
    } catch (const Error& e) {
      problems.add(m, std::string("step '") + s.name + "': " + e.what());
      steps_ok = false;
    }
  };
  for (size_t i = 0; i < steps.size(); ++i)
    check_step(recipe.steps[i], steps[i].mark);
  if (steps_ok && !recipe.steps.empty()) {
    NoData placeholder;
    PassContext ctx;
    if (recipe.calibration) ctx.calibration = &placeholder;
    if (recipe.train) ctx.train = &placeholder;
    if (recipe.eval) ctx.eval = &placeholder;
    // Whether a trainer exists is the environment's business; run_recipe checks it.
    static struct NoTrainer : Trainer {
      std::vector<std::pair<std::string, Tensor>> gradients(const Graph&, const DataSource&,
                                                            int64_t) override {
        return {};
      }
    } no_trainer;
    ctx.trainer = &no_trainer;
    try {
      PassManager(recipe.steps, registry).validate(ctx);
    } catch (const RecipeError& e) {
      std::string msg = e.what();
      const std::pair<const char*, const char*> hints[] = {
          {"calibration data: none given", "calibration"},
          {"training data: none given", "train"},
          {"evaluation data: none given", "eval"}};
      for (const auto& [phrase, role] : hints)
        if (msg.find(phrase) != std::string::npos)
          msg += " (add data." + std::string(role) + " to the recipe)";
      problems.add("steps: " + msg);
    }
  }
  problems.throw_if_any();
  return recipe;
}

std::vector<PassSpec> parse_steps_yaml(const std::string& yaml, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::ParserException& e) {
    throw ParseError(source, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  Problems problems{source, {}};
  std::vector<PassSpec> out;
  for (auto& s : parse_steps_node(root, problems))
    out.push_back(std::move(s.spec));
  problems.throw_if_any();
  return out;
}

namespace {

void emit_step(YAML::Emitter& out, const PassSpec& s) {
  if (s.name != kFixpointPass && s.options.empty()) {
    out << s.name;
    return;
  }
  out << YAML::BeginMap << YAML::Key << s.name << YAML::Value << YAML::Flow << YAML::BeginMap;
  for (const auto& [key, value] : s.options) {
    out << YAML::Key << key << YAML::Value;
    if (!value.empty() && value.front() == '[') {
      out << YAML::Flow << YAML::BeginSeq;
      for (const std::string& e : split_option_list(value))
        out << YAML::DoubleQuoted << e;
      out << YAML::EndSeq;
    } else {
      out << YAML::DoubleQuoted << value;
    }
  }
  if (s.name == kFixpointPass) {
    out << YAML::Key << "steps" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const PassSpec& c : s.children)
      emit_step(out, c);
    out << YAML::EndSeq;
  }
  out << YAML::EndMap << YAML::EndMap;
}

} // namespace

std::string steps_to_yaml(const std::vector<PassSpec>& steps) {
  YAML::Emitter out;
  out << YAML::BeginSeq;
  for (const PassSpec& s : steps)
    emit_step(out, s);
  out << YAML::EndSeq;
  return std::string(out.c_str()) + "\n";
}

DataSpec parse_data_spec(const std::string& text, const std::string& role,
                         const std::string& base_dir) {
  std::vector<PassSpec> specs = parse_pipeline(text, "<data>");
  if (specs.size() != 1 || !specs[0].children.empty())
    throw RecipeError("data '" + text +
                      "': expected SOURCE or SOURCE{key=value,...}, e.g. "
                      "fashion-mnist{split=test} or npy{inputs=x.npy,labels=y.npy}");
  Options options = specs[0].options;
  options["source"] = specs[0].name;
  Problems problems{"<data>", {}};
  DataSpec spec = data_spec_from_options(role, options,
                                         base_dir.empty() ? fs::current_path().string() : base_dir,
                                         problems, YAML::Mark::null_mark());
  if (!problems.items.empty()) {
    std::string message = "data '" + text + "': ";
    for (size_t i = 0; i < problems.items.size(); ++i)
      message += (i ? "; " : "") + problems.items[i].substr(problems.source.size() + 2);
    throw RecipeError(message);
  }
  return spec;
}

} // namespace shrink
