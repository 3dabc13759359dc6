#include "shrink/compress/prune.h"

#include "shrink/compress/prune_rewrite.h"
#include "shrink/core/error.h"
#include "shrink/ir/stats.h"
#include "shrink/pass/node_filter.h"
#include "shrink/pass/registry.h"

#include <algorithm>
#include <cmath>
#include <ostream>
#include <set>
#include <sstream>

namespace shrink {

namespace {

const char* const kChannelsSummary =
    "Removes the least important channels and hidden neurons, with every weight coupled to them, "
    "by ratio or by a parameter or FLOP budget.";
const char* const kHeadsSummary =
    "Removes the least important attention heads from the Q, K, V and output projections.";

std::string format_number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

const char* unit_word(PruneUnitKind kind, int64_t n) {
  if (kind == PruneUnitKind::Head) return n == 1 ? "head" : "heads";
  return n == 1 ? "channel" : "channels";
}

bool group_matches(const PruneGroup& g, const std::string& pattern, bool consumers_too) {
  for (const std::string& n : g.producers)
    if (prune_pattern_matches(pattern, n)) return true;
  if (consumers_too)
    for (const std::string& n : g.consumers)
      if (prune_pattern_matches(pattern, n)) return true;
  return false;
}

/// How many units a group keeps when `want` are wanted: at least `min_units`, rounded up to a
/// multiple of `round`, at most all of them.
int64_t kept_units(int64_t units, int64_t want, const PruneOptions& o) {
  int64_t keep = std::max<int64_t>(want, std::min(o.min_units, units));
  if (o.round > 1) keep = (keep + o.round - 1) / o.round * o.round;
  return std::min(keep, units);
}

/// The `count` least important units (ties: the higher index goes first), ascending.
std::vector<int64_t> least_important(const std::vector<double>& imp, int64_t count) {
  std::vector<int64_t> order(imp.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = static_cast<int64_t>(i);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    if (imp[static_cast<size_t>(a)] != imp[static_cast<size_t>(b)])
      return imp[static_cast<size_t>(a)] < imp[static_cast<size_t>(b)];
    return a > b;
  });
  order.resize(static_cast<size_t>(std::max<int64_t>(0, count)));
  std::sort(order.begin(), order.end());
  return order;
}

/// Global selection: the lowest fraction `f` of all candidate units by importance normalized
/// per group (divided by the group's mean), within each group's limits.
std::vector<std::vector<int64_t>> select_global(const std::vector<PruneGroup>& groups,
                                                const std::vector<size_t>& candidates,
                                                const std::vector<std::vector<double>>& imp,
                                                double f, const PruneOptions& o) {
  struct Entry {
    double score;
    size_t group;
    int64_t unit;
  };
  std::vector<Entry> pool;
  int64_t total = 0;
  for (size_t gi : candidates) {
    const std::vector<double>& s = imp[gi];
    double mean = 0;
    for (double v : s)
      mean += v;
    mean /= static_cast<double>(std::max<size_t>(s.size(), 1));
    for (size_t u = 0; u < s.size(); ++u)
      pool.push_back({mean > 0 ? s[u] / mean : 0.0, gi, static_cast<int64_t>(u)});
    total += groups[gi].units;
  }
  std::stable_sort(pool.begin(), pool.end(), [](const Entry& a, const Entry& b) {
    if (a.score != b.score) return a.score < b.score;
    if (a.group != b.group) return a.group < b.group;
    return a.unit > b.unit;
  });
  const int64_t target = static_cast<int64_t>(std::floor(f * static_cast<double>(total) + 1e-9));
  std::vector<std::vector<int64_t>> removed(groups.size());
  std::vector<std::vector<double>> removed_scores(groups.size());
  int64_t taken = 0;
  for (const Entry& e : pool) {
    if (taken >= target) break;
    const int64_t limit = groups[e.group].units - std::min(o.min_units, groups[e.group].units);
    if (static_cast<int64_t>(removed[e.group].size()) >= limit) continue;
    removed[e.group].push_back(e.unit);
    removed_scores[e.group].push_back(e.score);
    ++taken;
  }
  for (size_t gi : candidates) {
    std::vector<int64_t>& r = removed[gi];
    const int64_t units = groups[gi].units;
    const int64_t keep = kept_units(units, units - static_cast<int64_t>(r.size()), o);
    // Rounding up keeps more: give back the most important of the removed units (pushed last).
    r.resize(static_cast<size_t>(units - keep));
    std::sort(r.begin(), r.end());
  }
  return removed;
}

std::string join(const std::vector<std::string>& v, size_t most = 6) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < most; ++i)
    s += (i ? ", " : "") + v[i];
  if (v.size() > most) s += ", ... (" + std::to_string(v.size()) + " in all)";
  return s;
}

} // namespace

bool prune_pattern_matches(const std::string& pattern, const std::string& name) {
  if (pattern.find_first_of("*?") != std::string::npos) return glob_match(pattern, name);
  return name.find(pattern) != std::string::npos;
}

PruneOptions PruneOptions::parse(const std::string& pass, PruneUnitKind kind,
                                 const Options& options) {
  OptionReader r(pass, options);
  PruneOptions o;
  const std::string min_key = kind == PruneUnitKind::Head ? "min-heads" : "min-channels";
  const std::string criterion = r.get_string("criterion", "l1");
  const bool has_ratio = options.count("ratio") != 0;
  o.ratio = r.get_double("ratio", -1);
  o.global = r.get_bool("global", false);
  const std::vector<std::string> ratios = r.get_list("ratios");
  o.params = r.get_double("params", 0);
  o.flops = r.get_double("flops", 0);
  o.min_units = r.get_int(min_key, 1);
  o.round = r.get_int("round", 1);
  o.protect = r.get_list("protect");
  o.layers = r.get_list("layers");
  o.samples = r.get_int("samples", 256);
  o.seed = static_cast<uint64_t>(r.get_int("seed", 0));
  r.finish();

  try {
    o.criterion = parse_prune_criterion(criterion);
  } catch (const RecipeError& e) {
    throw RecipeError(pass + ": " + e.what());
  }
  auto bad = [&](const std::string& why) { throw RecipeError(pass + ": " + why); };
  auto check_ratio = [&](double v, const std::string& what) {
    if (!(v >= 0.0 && v < 1.0))
      bad(what + " must be in [0, 1) (the fraction of units to remove), got " + format_number(v));
  };
  if (has_ratio) check_ratio(o.ratio, "ratio");
  for (const std::string& item : ratios) {
    const size_t colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == item.size())
      bad("ratios entry '" + item + "' must be pattern:ratio, e.g. conv1:0.25");
    const std::string pattern = item.substr(0, colon), value = item.substr(colon + 1);
    double v = 0;
    try {
      size_t used = 0;
      v = std::stod(value, &used);
      if (used != value.size()) throw std::invalid_argument(value);
    } catch (const std::exception&) {
      bad("ratios entry '" + item + "': '" + value + "' is not a number");
    }
    check_ratio(v, "the ratio of '" + pattern + "'");
    o.ratios.push_back({pattern, v});
  }
  if (options.count("params") && !(o.params > 0))
    bad("params must be > 0 (a fraction <= 1 or a count), got " + format_number(o.params));
  if (options.count("flops") && !(o.flops > 0))
    bad("flops must be > 0 (a fraction <= 1 or a count), got " + format_number(o.flops));
  const int targets =
      ((has_ratio || !o.ratios.empty()) ? 1 : 0) + (o.params > 0 ? 1 : 0) + (o.flops > 0 ? 1 : 0);
  if (targets == 0)
    bad("give a target: ratio=<0..1>, ratios=[pattern:ratio], params=<n> or flops=<n>");
  if (targets > 1) bad("give only one target: ratio (or ratios), params or flops");
  if (o.global && !has_ratio) bad("global needs ratio=<0..1>");
  if (o.global && !o.ratios.empty()) bad("ratios are per layer; they cannot be used with global");
  if (o.min_units < 1) bad(min_key + " must be >= 1, got " + std::to_string(o.min_units));
  if (o.round < 1) bad("round must be >= 1, got " + std::to_string(o.round));
  if (o.samples < 1) bad("samples must be >= 1, got " + std::to_string(o.samples));
  return o;
}

PrunePlan plan_pruning(const Graph& graph, const PruneOptions& o, PruneUnitKind kind,
                       PassContext& ctx, const std::string& pass) {
  PrunePlan plan;
  plan.groups = find_prune_groups(graph);
  const std::vector<PruneGroup>& groups = plan.groups;
  plan.removed.assign(groups.size(), {});

  // Every pattern must name something: a typo would otherwise silently prune the wrong layers.
  std::vector<std::string> node_names;
  for (const Node* n : graph.nodes())
    node_names.push_back(n->name());
  auto check_pattern = [&](const std::string& pattern, const std::string& option) {
    for (const std::string& n : node_names)
      if (prune_pattern_matches(pattern, n)) return;
    const std::string hint = closest_name(pattern, node_names);
    throw Error(pass + ": " + option + " pattern '" + pattern + "' matches no node" +
                (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
  };
  for (const std::string& p : o.protect)
    check_pattern(p, "protect");
  for (const std::string& p : o.layers)
    check_pattern(p, "layers");
  for (const auto& pr : o.ratios)
    check_pattern(pr.first, "ratios");

  std::vector<size_t> candidates;
  int64_t of_kind = 0, blocked = 0, protected_count = 0, prunable = 0, units_before = 0;
  std::vector<std::string> blocked_selected;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const PruneGroup& g = groups[gi];
    if (g.kind != kind) continue;
    ++of_kind;
    units_before += g.units;
    const std::string label = "group " + std::to_string(g.id) + " '" + g.name() + "' (" +
                              std::to_string(g.units) + " " + unit_word(kind, g.units) + ")";
    bool selected = o.layers.empty();
    for (const std::string& p : o.layers)
      selected = selected || group_matches(g, p, false);
    if (!g.prunable()) {
      ++blocked;
      if (!o.layers.empty() && selected) {
        std::vector<std::string> nodes = g.producers;
        nodes.insert(nodes.end(), g.consumers.begin(), g.consumers.end());
        blocked_selected.push_back(label + " with nodes " + join(nodes) + ": " +
                                   join(g.blockers, 3));
      }
      plan.warnings.push_back(label + " is not pruned: " + g.blockers.front() +
                              (g.blockers.size() > 1
                                   ? " (and " + std::to_string(g.blockers.size() - 1) + " more)"
                                   : ""));
      continue;
    }
    ++prunable;
    std::string by;
    for (const std::string& p : o.protect)
      if (by.empty() && group_matches(g, p, true)) by = p;
    if (!by.empty()) {
      ++protected_count;
      plan.warnings.push_back(label + " is protected by pattern '" + by + "' and not pruned");
      continue;
    }
    if (!selected || g.units <= o.min_units) continue;
    candidates.push_back(gi);
  }
  if (!blocked_selected.empty())
    throw Error(
        pass + ": the layers selected by 'layers' cannot be pruned: " + join(blocked_selected, 10));
  if (!o.layers.empty())
    for (const std::string& p : o.layers) {
      bool any = false;
      for (const PruneGroup& g : groups)
        any = any || (g.kind == kind && group_matches(g, p, false));
      if (!any)
        throw Error(pass + ": layers pattern '" + p + "' matches no layer whose output " +
                    (kind == PruneUnitKind::Head ? "attention heads" : "channels") +
                    " form a group (it must name a Conv, Gemm or MatMul with constant weights)");
    }
  if (of_kind == 0)
    throw Error(
        pass + ": found no " +
        std::string(kind == PruneUnitKind::Head
                        ? "attention heads (a Reshape that splits a projection into "
                          "heads, followed by a batched MatMul)"
                        : "channel groups (no Conv, Gemm or MatMul with constant weights)") +
        " in graph '" + graph.name() + "'");
  if (prunable == 0) {
    std::vector<std::string> why;
    for (const PruneGroup& g : groups)
      if (g.kind == kind) why.push_back("'" + g.name() + "': " + g.blockers.front());
    throw Error(pass + ": no group can be pruned: " + join(why, 5));
  }

  plan.stats["groups"] = static_cast<double>(of_kind);
  plan.stats["prunable_groups"] = static_cast<double>(prunable);
  plan.stats["blocked_groups"] = static_cast<double>(blocked);
  plan.stats["protected_groups"] = static_cast<double>(protected_count);
  plan.stats["units_before"] = static_cast<double>(units_before);

  std::vector<bool> which(groups.size(), false);
  for (size_t gi : candidates)
    which[gi] = true;
  ImportanceOptions io;
  io.criterion = o.criterion;
  io.samples = o.samples;
  io.seed = o.seed;
  io.pass = pass;
  std::vector<std::vector<double>> imp;
  if (!candidates.empty()) imp = unit_importance(graph, groups, which, io, ctx, &plan.warnings);

  if (candidates.empty()) {
    // Nothing to choose from: every prunable group is protected, unselected or at its minimum.
  } else if (o.params > 0 || o.flops > 0) {
    const bool by_params = o.params > 0;
    const double budget = by_params ? o.params : o.flops;
    auto measure = [&](const Graph& g) {
      return by_params ? static_cast<double>(g.num_parameters())
                       : static_cast<double>(graph_stats(g).flops);
    };
    const double before = measure(graph);
    const double target = budget <= 1.0 ? budget * before : budget;
    auto metric = [&](double f) {
      Graph trial = graph.clone();
      remove_units(trial, groups, select_global(groups, candidates, imp, f, o));
      return measure(trial);
    };
    const std::string what = by_params ? "parameters" : "FLOPs";
    double chosen = 0;
    if (before <= target) {
      plan.warnings.push_back("the model already has " + format_number(before) + " " + what +
                              ", within the budget of " + format_number(target) +
                              "; nothing pruned");
    } else if (double most = metric(1.0); most > target) {
      plan.warnings.push_back("the budget of " + format_number(target) + " " + what +
                              " cannot be reached within the groups' limits; pruned as far as "
                              "allowed, to " +
                              format_number(most));
      chosen = 1.0;
    } else {
      // The smallest global fraction that meets the budget (the metric falls as f grows).
      double lo = 0, hi = 1;
      for (int it = 0; it < 18; ++it) {
        const double mid = 0.5 * (lo + hi);
        (metric(mid) <= target ? hi : lo) = mid;
      }
      chosen = hi;
    }
    if (chosen > 0) plan.removed = select_global(groups, candidates, imp, chosen, o);
    plan.stats["global_fraction"] = chosen;
  } else if (o.global) {
    plan.removed = select_global(groups, candidates, imp, o.ratio, o);
  } else {
    for (size_t gi : candidates) {
      const PruneGroup& g = groups[gi];
      double r = std::max(o.ratio, 0.0);
      for (const auto& pr : o.ratios)
        if (group_matches(g, pr.first, false)) r = pr.second;
      const int64_t want =
          g.units - static_cast<int64_t>(std::floor(r * static_cast<double>(g.units) + 1e-9));
      const int64_t keep = kept_units(g.units, want, o);
      plan.removed[gi] = least_important(imp[gi], g.units - keep);
    }
  }

  int64_t removed_units = 0, pruned_groups = 0;
  for (const std::vector<int64_t>& r : plan.removed) {
    removed_units += static_cast<int64_t>(r.size());
    pruned_groups += r.empty() ? 0 : 1;
  }
  plan.stats["units_removed"] = static_cast<double>(removed_units);
  plan.stats["pruned_groups"] = static_cast<double>(pruned_groups);
  return plan;
}

PrunePass::PrunePass(PruneUnitKind kind, const Options& options)
    : kind_(kind),
      options_(PruneOptions::parse(kind == PruneUnitKind::Head ? "prune-heads" : "prune-channels",
                                   kind, options)) {
  info_.name = kind == PruneUnitKind::Head ? "prune-heads" : "prune-channels";
  info_.summary = kind == PruneUnitKind::Head ? kHeadsSummary : kChannelsSummary;
  info_.requires = {"shapes"};
  info_.needs.trainer = options_.criterion == PruneCriterion::Taylor;
  info_.needs.calibration_data = options_.criterion == PruneCriterion::Activation;
}

const PassInfo& PrunePass::info() const {
  return info_;
}

PassResult PrunePass::run(Graph& graph, PassContext& ctx) {
  PrunePlan plan = plan_pruning(graph, options_, kind_, ctx, info_.name);
  PassResult result;
  result.stats = plan.stats;
  result.warnings = plan.warnings;
  const GraphStats before = graph_stats(graph);
  result.stats["params_before"] = static_cast<double>(before.parameters);
  result.stats["flops_before"] = static_cast<double>(before.flops);
  if (plan.stats["units_removed"] > 0) {
    remove_units(graph, plan.groups, plan.removed);
    result.changed = true;
  }
  const GraphStats after = graph_stats(graph);
  result.stats["params_after"] = static_cast<double>(after.parameters);
  result.stats["flops_after"] = static_cast<double>(after.flops);
  if (ctx.log) {
    for (size_t gi = 0; gi < plan.groups.size(); ++gi) {
      const PruneGroup& g = plan.groups[gi];
      if (plan.removed[gi].empty()) continue;
      const int64_t left = g.units - static_cast<int64_t>(plan.removed[gi].size());
      *ctx.log << info_.name << ": group " << g.id << " '" << g.name() << "': " << g.units << " -> "
               << left << " " << unit_word(kind_, left) << "\n";
    }
    *ctx.log << info_.name << ": parameters " << before.parameters << " -> " << after.parameters
             << ", FLOPs " << before.flops << " -> " << after.flops << "\n";
  }
  return result;
}

SHRINK_REGISTER_PASS(register_prune_channels_pass, PruneChannelsPass, "prune-channels",
                     kChannelsSummary);
SHRINK_REGISTER_PASS(register_prune_heads_pass, PruneHeadsPass, "prune-heads", kHeadsSummary);

} // namespace shrink
