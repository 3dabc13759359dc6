// `shrink run RECIPE`: run a YAML recipe and print what every step did.

#include "cli.h"

#include "shrink/core/error.h"
#include "shrink/ir/stats.h"
#include "shrink/recipe/default_environment.h"
#include "shrink/recipe/recipe.h"
#include "shrink/recipe/runner.h"

#include <chrono>
#include <climits>
#include <cstdio>
#include <iostream>
#include <unistd.h>

namespace shrink::cli {

namespace {
const char* kRunHelp = R"(usage: shrink run RECIPE [options]

Runs a YAML recipe (docs/recipes.md): loads its model and data, runs its steps in order, prints
each step's parameters, size, FLOPs, metric and time, and writes the output model and
report.json (plus report.md). The whole recipe is checked before any work starts.

options:
  --set KEY=VALUE   override a recipe value; repeatable. KEY is a top-level key (seed=3,
                    output=out/x.onnx), data.ROLE.KEY (data.eval.samples=1000) or
                    PASS.OPTION (prune-channels.ratio=0.3; PASS#2.OPTION for a second step)
  --dry-run         check the recipe and print its pipeline; run nothing
  --no-write        run, but write neither the output model nor the report
  --quiet           print nothing but errors
  --json            print the report as JSON on stdout instead of the table
  --help            this text
)";

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string metric_cell(const std::optional<double>& m) {
  if (!m) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", *m);
  return buf;
}

void print_row(const std::string& step, const std::string& pass, const ModelMeasure& m,
               const std::string& seconds) {
  char line[256];
  char latency[32] = "-";
  if (m.latency_ms) std::snprintf(latency, sizeof latency, "%.2f", *m.latency_ms);
  std::snprintf(line, sizeof line, "%-4s %-28s %10s %11s %10s %12s %12s %9s", step.c_str(),
                pass.c_str(), human_count(static_cast<double>(m.params)).c_str(),
                human_bytes(static_cast<double>(m.bytes)).c_str(),
                human_count(static_cast<double>(m.flops)).c_str(), metric_cell(m.metric).c_str(),
                latency, seconds.c_str());
  std::cout << line << std::endl;
}
} // namespace

ProgressBar::ProgressBar(bool quiet) : enabled_(!quiet && ::isatty(STDERR_FILENO)) {}

ProgressBar::~ProgressBar() {
  clear();
}

void ProgressBar::update(int64_t done, int64_t total, const std::string& status) {
  if (!enabled_ || total <= 0) return;
  const double t = now();
  if (done < total && t - last_ < 0.1) return;
  last_ = t;
  const int width = 30;
  const int filled = static_cast<int>(width * std::min<int64_t>(done, total) / total);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "\r  [%s] %3d%% %-40.40s", bar.c_str(),
               static_cast<int>(100 * std::min<int64_t>(done, total) / total), status.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::clear() {
  if (!drawn_) return;
  std::fprintf(stderr, "\r%80s\r", "");
  std::fflush(stderr);
  drawn_ = false;
}

std::function<void(int64_t, int64_t, const std::string&)> ProgressBar::fn() {
  return [this](int64_t done, int64_t total, const std::string& status) {
    update(done, total, status);
  };
}

int cmd_run(const std::vector<std::string>& argv) {
  Args args(argv, {"dry-run", "no-write", "quiet", "json", "help"}, {"set"});
  if (args.flag("help")) {
    std::cout << kRunHelp;
    return kExitOk;
  }
  if (args.positional().size() != 1) throw UsageError{"expected exactly one RECIPE argument"};
  std::vector<RecipeOverride> overrides;
  for (const std::string& s : args.values("set")) {
    if (s.find('=') == std::string::npos)
      throw UsageError{"--set '" + s + "': expected KEY=VALUE (e.g. prune-channels.ratio=0.3)"};
    overrides.push_back(RecipeOverride::parse(s));
  }
  const bool quiet = args.flag("quiet");
  const bool json = args.flag("json");
  Recipe recipe = load_recipe(args.positional()[0], overrides);
  if (args.flag("dry-run")) {
    if (!quiet)
      std::cout << "recipe   " << recipe.source << " is valid\nmodel    " << recipe.model
                << "\npipeline " << recipe.pipeline() << "\n";
    return kExitOk;
  }

  DefaultEnvironment env;
  ProgressBar bar(quiet || json);
  RecipeRunOptions options;
  options.write_files = !args.flag("no-write");
  options.progress = bar.fn();
  const bool table = !quiet && !json;
  if (table) {
    std::cout << "recipe " << recipe.source << "\n";
    char head[256];
    std::snprintf(head, sizeof head, "%-4s %-28s %10s %11s %10s %12s %12s %9s", "step", "pass",
                  "params", "size", "FLOPs",
                  recipe.eval ? recipe.eval->effective_metric().substr(0, 12).c_str() : "metric",
                  "latency (ms)", "seconds");
    std::cout << head << std::endl;
  }
  options.on_step_start = [&](size_t, const std::string& pass) { bar.update(0, 1, pass); };
  options.on_step = [&](size_t index, const StepReport& s) {
    bar.clear();
    if (!table) return;
    if (index == SIZE_MAX) {
      print_row("0", "input", s.after, "-");
      return;
    }
    std::string pass = s.pass;
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.2f", s.seconds);
    print_row(std::to_string(index + 1), pass, s.after, secs);
    for (const std::string& w : s.warnings)
      std::cout << "     warning: " << w << "\n";
  };
  RecipeReport report = run_recipe(recipe, env, options);
  bar.clear();
  if (json) {
    std::cout << report.to_json();
  } else if (!quiet) {
    if (!report.output.path.empty() && options.write_files)
      std::cout << "wrote " << report.output.path << " (sha256 "
                << report.output.sha256.substr(0, 16) << "...)\n";
    if (!recipe.report.empty() && options.write_files)
      std::cout << "wrote " << recipe.report << "\n";
    char total[64];
    std::snprintf(total, sizeof total, "%.1f", report.seconds);
    std::cout << "done in " << total << " s\n";
  }
  return kExitOk;
}

} // namespace shrink::cli
