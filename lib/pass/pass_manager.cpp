#include "shrink/pass/pass_manager.h"

#include "shrink/core/error.h"
#include "shrink/ir/shape_inference.h"
#include "shrink/ir/verifier.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <ostream>

namespace shrink {

struct PassManager::Step {
  std::string name;
  Options options;
  int line = 0;
  int column = 0;
  bool from_spec = false; ///< The pass is (re)built from the registry when validating.
  bool fixpoint = false;
  int max_rounds = kMaxFixpointRounds;
  std::unique_ptr<Pass> pass;
  std::vector<std::unique_ptr<Step>> children;
};

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string where(int line, int column) {
  if (column <= 0) return "";
  return " (pipeline " + std::to_string(line) + ":" + std::to_string(column) + ")";
}

void fill_after(PassRecord& r, const Graph& g) {
  r.params_after = g.num_parameters();
  r.bytes_after = g.parameter_bytes();
  r.nodes_after = static_cast<int64_t>(g.num_nodes());
}

/// Folds one round's record into the running total of a fixpoint child.
void merge_record(PassRecord& into, const PassRecord& r) {
  into.seconds += r.seconds;
  into.changed = into.changed || r.changed;
  for (const auto& [k, v] : r.stats)
    into.stats[k] += v;
  // A pass that says the same thing every round is reported once.
  for (const std::string& w : r.warnings)
    if (std::find(into.warnings.begin(), into.warnings.end(), w) == into.warnings.end())
      into.warnings.push_back(w);
  into.params_after = r.params_after;
  into.bytes_after = r.bytes_after;
  into.nodes_after = r.nodes_after;
  for (size_t i = 0; i < r.children.size(); ++i) {
    if (i < into.children.size())
      merge_record(into.children[i], r.children[i]);
    else
      into.children.push_back(r.children[i]);
  }
}

void collect_warnings(const PassRecord& r, std::vector<std::string>& out) {
  for (const auto& w : r.warnings)
    out.push_back(r.name + ": " + w);
  for (const auto& c : r.children)
    collect_warnings(c, out);
}

const PassRecord* find_record(const std::vector<PassRecord>& records, const std::string& name) {
  for (const auto& r : records) {
    if (r.name == name) return &r;
    if (const PassRecord* c = find_record(r.children, name)) return c;
  }
  return nullptr;
}

std::vector<std::string> missing_needs(const std::string& pass, const Needs& needs,
                                       const PassContext& ctx) {
  std::vector<std::string> out;
  if (needs.calibration_data && !ctx.calibration)
    out.push_back(pass + " needs calibration data: none given");
  if (needs.train_data && !ctx.train) out.push_back(pass + " needs training data: none given");
  if (needs.eval_data && !ctx.eval) out.push_back(pass + " needs evaluation data: none given");
  if (needs.trainer && !ctx.trainer)
    out.push_back(pass + " needs a trainer (the LibTorch bridge): none given");
  // The teacher defaults to the pipeline input, so `needs.teacher` is always satisfiable.
  return out;
}

} // namespace

std::vector<std::string> PipelineReport::warnings() const {
  std::vector<std::string> out;
  for (const auto& r : passes)
    collect_warnings(r, out);
  return out;
}

const PassRecord* PipelineReport::find(const std::string& name) const {
  return find_record(passes, name);
}

PassManager::PassManager() : registry_(&PassRegistry::global()) {}

PassManager::PassManager(std::vector<PassSpec> specs, const PassRegistry& registry)
    : registry_(&registry) {
  for (PassSpec& s : specs)
    add(std::move(s));
}

PassManager PassManager::from_text(const std::string& pipeline, const PassRegistry& registry) {
  return PassManager(parse_pipeline(pipeline), registry);
}

PassManager::~PassManager() = default;
PassManager::PassManager(PassManager&&) noexcept = default;
PassManager& PassManager::operator=(PassManager&&) noexcept = default;

std::unique_ptr<PassManager::Step> PassManager::make_step(PassSpec spec) {
  auto step = std::make_unique<Step>();
  step->name = spec.name;
  step->options = spec.options;
  step->line = spec.line;
  step->column = spec.column;
  step->from_spec = true;
  step->fixpoint = spec.name == kFixpointPass;
  for (PassSpec& c : spec.children)
    step->children.push_back(make_step(std::move(c)));
  return step;
}

bool PassManager::needs_teacher(const std::vector<std::unique_ptr<Step>>& steps) {
  for (const auto& s : steps) {
    if (s->pass && s->pass->info().needs.teacher) return true;
    if (needs_teacher(s->children)) return true;
  }
  return false;
}

PassManager& PassManager::add(PassSpec spec) {
  steps_.push_back(make_step(std::move(spec)));
  validated_ = false;
  return *this;
}

PassManager& PassManager::add(std::unique_ptr<Pass> pass) {
  check(pass != nullptr, "PassManager::add: the pass is null");
  auto step = std::make_unique<Step>();
  step->name = pass->info().name;
  step->pass = std::move(pass);
  steps_.push_back(std::move(step));
  validated_ = false;
  return *this;
}

PassManager& PassManager::add_fixpoint(std::vector<std::unique_ptr<Pass>> passes) {
  check(!passes.empty(), "PassManager::add_fixpoint: a fixpoint needs at least one pass");
  auto step = std::make_unique<Step>();
  step->name = kFixpointPass;
  step->fixpoint = true;
  for (auto& p : passes) {
    check(p != nullptr, "PassManager::add_fixpoint: a pass is null");
    auto child = std::make_unique<Step>();
    child->name = p->info().name;
    child->pass = std::move(p);
    step->children.push_back(std::move(child));
  }
  steps_.push_back(std::move(step));
  validated_ = false;
  return *this;
}

void PassManager::validate(const PassContext& ctx) {
  std::vector<std::string> problems;
  Props established;

  // Walks the steps in run order, building passes from specs and tracking which properties
  // hold, exactly as `run` will.
  std::function<void(std::vector<std::unique_ptr<Step>>&)> walk =
      [&](std::vector<std::unique_ptr<Step>>& steps) {
        for (auto& sp : steps) {
          Step& s = *sp;
          if (s.fixpoint) {
            if (s.from_spec) {
              try {
                OptionReader reader(kFixpointPass, s.options);
                int64_t rounds = reader.get_int("max_rounds", kMaxFixpointRounds);
                reader.finish();
                if (rounds < 1 || rounds > 10000)
                  throw RecipeError("pass 'fixpoint': option 'max_rounds' must be in 1..10000, "
                                    "got " +
                                    std::to_string(rounds));
                s.max_rounds = static_cast<int>(rounds);
              } catch (const RecipeError& e) {
                problems.push_back(e.what() + where(s.line, s.column));
              }
            }
            if (s.children.empty()) problems.push_back("fixpoint() needs at least one pass");
            walk(s.children);
            continue;
          }
          if (s.from_spec) {
            s.pass.reset();
            try {
              s.pass = registry_->create(s.name, s.options);
            } catch (const RecipeError& e) {
              problems.push_back(e.what() + where(s.line, s.column));
              continue;
            }
          }
          const PassInfo& info = s.pass->info();
          for (const std::string& m : missing_needs(info.name, info.needs, ctx))
            problems.push_back(m);
          for (const std::string& req : info.requires) {
            if (req == kShapes || established.count(req)) continue;
            problems.push_back("pass '" + info.name + "' requires '" + req +
                               "', which no earlier pass establishes: add a pass that "
                               "establishes it before '" +
                               info.name + "'");
          }
          for (const std::string& p : info.invalidates)
            established.erase(p);
          established.insert(info.establishes.begin(), info.establishes.end());
        }
      };
  walk(steps_);

  if (!problems.empty()) {
    std::string message =
        problems.size() == 1
            ? "invalid pipeline: " + problems[0]
            : "invalid pipeline (" + std::to_string(problems.size()) + " problems):";
    if (problems.size() > 1)
      for (const auto& p : problems)
        message += "\n  " + p;
    throw RecipeError(message);
  }
  validated_ = true;
}

void PassManager::ensure_shapes(Graph& graph, Props& props, std::vector<PassRecord>& records) {
  if (props.count(kShapes)) return;
  PassRecord rec;
  rec.name = "infer-shapes";
  rec.automatic = true;
  auto start = Clock::now();
  try {
    infer_shapes(graph);
  } catch (const Error& e) {
    throw Error(std::string("shape inference, which the pipeline runs before the next pass that "
                            "needs shapes, failed: ") +
                e.what());
  }
  rec.seconds = seconds_since(start);
  rec.changed = true;
  fill_after(rec, graph);
  props.insert(kShapes);
  records.push_back(std::move(rec));
}

PassRecord PassManager::run_pass(Step& step, Graph& graph, PassContext& ctx, Props& props) {
  Pass& pass = *step.pass;
  const PassInfo& info = pass.info();
  PassRecord rec;
  rec.name = info.name;
  rec.options = step.options;
  if (ctx.log) *ctx.log << "running pass '" << info.name << "'\n";
  uint64_t version_before = graph.version();
  auto start = Clock::now();
  PassResult result = pass.run(graph, ctx);
  rec.seconds = seconds_since(start);
  rec.changed = result.changed;
  rec.stats = std::move(result.stats);
  rec.warnings = std::move(result.warnings);
  if (ctx.log)
    for (const auto& w : rec.warnings)
      *ctx.log << "warning: " << info.name << ": " << w << "\n";
  // A pass that touched the graph but reports no change is verified too: trust, but check.
  bool touched = result.changed || graph.version() != version_before;
  if (touched && verify_each_) {
    std::vector<std::string> diagnostics = verify(graph);
    if (!diagnostics.empty()) {
      for (auto& d : diagnostics)
        d = "after pass '" + info.name + "'" + where(step.line, step.column) + ": " + d;
      throw VerifyError(std::move(diagnostics));
    }
  }
  if (touched)
    for (const std::string& p : info.invalidates)
      props.erase(p);
  props.insert(info.establishes.begin(), info.establishes.end());
  fill_after(rec, graph);
  return rec;
}

PassRecord PassManager::run_step(Step& step, Graph& graph, PassContext& ctx, Props& props) {
  PassRecord rec;
  rec.name = step.name;
  rec.options = step.options;
  auto start = Clock::now();
  std::vector<PassRecord> auto_records;
  int rounds = 0;
  bool converged = false;
  while (rounds < step.max_rounds) {
    ++rounds;
    bool any = false;
    for (size_t i = 0; i < step.children.size(); ++i) {
      Step& child = *step.children[i];
      PassRecord r;
      if (child.fixpoint) {
        r = run_step(child, graph, ctx, props);
      } else {
        if (child.pass->info().requires.count(kShapes)) ensure_shapes(graph, props, auto_records);
        r = run_pass(child, graph, ctx, props);
      }
      any = any || r.changed;
      if (rec.children.size() <= i)
        rec.children.push_back(std::move(r));
      else
        merge_record(rec.children[i], r);
    }
    if (!any) {
      converged = true;
      break;
    }
    rec.changed = true;
  }
  if (!auto_records.empty()) {
    PassRecord total = auto_records[0];
    for (size_t i = 1; i < auto_records.size(); ++i)
      merge_record(total, auto_records[i]);
    rec.children.push_back(std::move(total));
  }
  rec.stats["rounds"] = rounds;
  if (!converged) {
    std::string w = "did not converge in " + std::to_string(step.max_rounds) +
                    " rounds; stopped (the passes keep changing the graph)";
    rec.warnings.push_back(w);
    if (ctx.log) *ctx.log << "warning: fixpoint: " << w << "\n";
  }
  rec.seconds = seconds_since(start);
  fill_after(rec, graph);
  return rec;
}

PipelineReport PassManager::run(Graph& graph, PassContext& ctx) {
  validate(ctx);
  PipelineReport report;
  report.params_before = graph.num_parameters();
  report.bytes_before = graph.parameter_bytes();
  report.nodes_before = static_cast<int64_t>(graph.num_nodes());

  // The teacher defaults to the pipeline input: a cheap clone (initializers are shared).
  std::unique_ptr<Graph> teacher;
  const Graph* saved_teacher = ctx.teacher;
  if (!ctx.teacher && needs_teacher(steps_)) {
    teacher = std::make_unique<Graph>(graph.clone());
    ctx.teacher = teacher.get();
  }
  struct RestoreTeacher {
    PassContext& ctx;
    const Graph* saved;
    ~RestoreTeacher() { ctx.teacher = saved; }
  } restore{ctx, saved_teacher};

  auto start = Clock::now();
  Props props;
  for (auto& sp : steps_) {
    Step& s = *sp;
    if (s.fixpoint) {
      report.passes.push_back(run_step(s, graph, ctx, props));
      continue;
    }
    if (s.pass->info().requires.count(kShapes)) ensure_shapes(graph, props, report.passes);
    report.passes.push_back(run_pass(s, graph, ctx, props));
  }
  report.seconds = seconds_since(start);
  report.params_after = graph.num_parameters();
  report.bytes_after = graph.parameter_bytes();
  report.nodes_after = static_cast<int64_t>(graph.num_nodes());
  return report;
}

std::string PassManager::str() const {
  std::function<std::vector<PassSpec>(const std::vector<std::unique_ptr<Step>>&)> to_specs =
      [&](const std::vector<std::unique_ptr<Step>>& steps) {
        std::vector<PassSpec> out;
        for (const auto& s : steps) {
          PassSpec spec = PassSpec::of(s->name, s->options);
          spec.children = to_specs(s->children);
          out.push_back(std::move(spec));
        }
        return out;
      };
  return print_pipeline(to_specs(steps_));
}

} // namespace shrink
