#include "shrink/compress/lowrank.h"

#include "compress_util.h"
#include "lowrank_internal.h"

#include "shrink/compress/calibrate.h"

#include "shrink/core/error.h"
#include "shrink/pass/layer_stats.h"
#include "shrink/pass/registry.h"

#include <Eigen/Cholesky>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ostream>

namespace shrink {

using namespace lowrank_detail;
using namespace compress_util;

namespace {

const char* const kSummary = "Factorizes Gemm, MatMul and Conv weights into two thinner layers "
                             "by truncated SVD, optionally whitened by calibration data.";

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f%%", 100.0 * fraction);
  return buf;
}

std::string describe(const LayerPlan& p) {
  return "node '" + p.record.node + "' (" + p.record.op + ")";
}

[[noreturn]] void bad_option(const std::string& key, const std::string& what) {
  throw RecipeError("pass 'lowrank': option '" + key + "' " + what);
}

void check_one_of(const std::string& key, const std::string& value,
                  const std::vector<std::string>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return;
  std::string list;
  for (const std::string& a : allowed)
    list += (list.empty() ? "" : ", ") + a;
  bad_option(key, "is '" + value + "'; allowed values: " + list);
}

void validate(const LowRankOptions& o) {
  auto unit = [](double v, const char* key) {
    if (!(v > 0 && v <= 1)) bad_option(key, "must be in (0, 1], got " + num(v));
  };
  unit(o.energy, "energy");
  unit(o.ratio, "ratio");
  unit(o.budget, "budget");
  if (o.multiple < 1) bad_option("multiple", "must be at least 1, got " + num(o.multiple));
  if (!(o.damp >= 0) || !std::isfinite(o.damp))
    bad_option("damp", "must be a number >= 0, got " + num(o.damp));
  if (o.samples < 1) bad_option("samples", "must be at least 1, got " + num(o.samples));
  if (o.batch_size < 1) bad_option("batch_size", "must be at least 1, got " + num(o.batch_size));
  check_one_of("budget_metric", o.budget_metric, {"params", "flops"});
  check_one_of("conv", o.conv, {"channel", "spatial", "none"});
  check_one_of("svd", o.svd, {"auto", "exact", "randomized"});
  for (const auto* list : {&o.include, &o.exclude})
    for (const std::string& p : *list)
      if (p.empty()) bad_option(list == &o.include ? "include" : "exclude", "has an empty pattern");
}

LowRankOptions read_options(const Options& raw) {
  std::vector<std::string> given;
  for (const char* k : {"energy", "ratio", "budget"})
    if (raw.count(k)) given.push_back(k);
  if (given.size() > 1)
    throw RecipeError("pass 'lowrank': give at most one of 'energy', 'ratio' and 'budget' (got '" +
                      given[0] + "' and '" + given[1] + "')");
  OptionReader r("lowrank", raw);
  LowRankOptions o;
  o.energy = r.get_double("energy", o.energy);
  o.ratio = r.get_double("ratio", o.ratio);
  o.budget = r.get_double("budget", o.budget);
  if (!given.empty())
    o.select = given[0] == "energy"  ? LowRankOptions::Select::energy
               : given[0] == "ratio" ? LowRankOptions::Select::ratio
                                     : LowRankOptions::Select::budget;
  o.budget_metric = r.get_string("budget_metric", o.budget_metric, {"params", "flops"});
  o.multiple = r.get_int("multiple", o.multiple);
  o.conv = r.get_string("conv", o.conv, {"channel", "spatial", "none"});
  o.whiten = r.get_bool("whiten", o.whiten);
  o.damp = r.get_double("damp", o.damp);
  o.samples = r.get_int("samples", o.samples);
  o.batch_size = r.get_int("batch_size", o.batch_size);
  o.include = r.get_list("include");
  o.exclude = r.get_list("exclude");
  o.svd = r.get_string("svd", o.svd, {"auto", "exact", "randomized"});
  o.force = r.get_bool("force", o.force);
  r.finish();
  return o;
}

/// Marks which plans are selected; throws for patterns that match no layer.
void select_layers(std::vector<LayerPlan>& plans, const LowRankOptions& o) {
  const NodeFilter filter{o.include, o.exclude};
  std::vector<std::string> names;
  for (const LayerPlan& p : plans)
    names.push_back(p.record.node);
  filter.check("lowrank", "Gemm, MatMul or Conv node with constant weights", names);
  for (LayerPlan& p : plans) {
    if (!p.eligible) continue;
    p.record.reason = filter.rejects(p.record.node);
    p.selected = p.record.reason.empty();
  }
}

/// A layer's matrix and, when whitened, W L.
struct Prepared {
  MatrixF w;
  MatrixF a;
  bool whitened = false;
  const MatrixF& target() const { return whitened ? a : w; }
};

Prepared prepare(const LayerPlan& p, const std::map<std::string, SecondMoment>& moments,
                 double damp, std::vector<std::string>* warnings) {
  Prepared out;
  out.w = layer_matrix(p, *constant_value(p.weight));
  if (p.calib_key.empty()) return out;
  const SecondMoment& m = moments.at(p.calib_key);
  const double mean_diag = m.c.diagonal().mean();
  if (!m.c.allFinite() || !(mean_diag > 0)) {
    if (warnings)
      warnings->push_back(describe(p) + ": its input is " +
                          (m.c.allFinite() ? "zero" : "not finite") +
                          " on the calibration data; plain SVD used");
    return out;
  }
  MatrixD cd = m.c;
  cd.diagonal().array() += damp * mean_diag;
  Eigen::LLT<MatrixD> llt(cd);
  if (llt.info() != Eigen::Success) {
    if (warnings)
      warnings->push_back(describe(p) + ": X^T X of its input over " + num(double(m.rows)) +
                          " calibration rows is singular (Cholesky failed with damp=" + num(damp) +
                          "); plain SVD used. Give more calibration samples or set " + "damp > 0");
    return out;
  }
  const MatrixF l = llt.matrixL().toDenseMatrix().cast<float>();
  out.a.noalias() = out.w * l.triangularView<Eigen::Lower>();
  out.whitened = true;
  return out;
}

bool worthwhile(const LayerPlan& p, int64_t rank) {
  return rank * p.params_per_rank < p.params_full &&
         static_cast<double>(rank) * p.flops_per_rank < p.flops_full;
}

} // namespace

LowRankPass::LowRankPass(const LowRankOptions& options) : options_(options) {
  validate(options_);
  info_ = PassInfo{"lowrank", kSummary, {"shapes"}, {}, {}, {}};
  info_.needs.calibration_data = options_.whiten;
}

LowRankPass::LowRankPass(const Options& options) : LowRankPass(read_options(options)) {}

const PassInfo& LowRankPass::info() const {
  return info_;
}

PassResult LowRankPass::run(Graph& graph, PassContext& ctx) {
  const LowRankOptions& o = options_;
  PassResult result;
  layers_.clear();

  std::vector<LayerPlan> plans;
  for (Node* n : graph.nodes()) {
    LayerPlan p;
    if (analyze_layer(*n, o.conv, p)) plans.push_back(std::move(p));
  }
  select_layers(plans, o);
  std::vector<LayerPlan*> selected;
  for (LayerPlan& p : plans)
    if (p.selected) selected.push_back(&p);

  // Calibration: one streamed pass over the data for every selected layer's input.
  std::map<std::string, SecondMoment> moments;
  std::map<std::string, int> key_uses;
  double calib_seconds = 0;
  int64_t calib_samples = 0;
  if (o.whiten && !selected.empty()) {
    require_calibration(graph, ctx, "pass 'lowrank' with whiten=true");
    std::map<std::string, std::pair<std::string, PatchGeometry>> geometry;
    std::vector<std::string> spatial;
    for (LayerPlan* p : selected) {
      if (p->form == Form::conv_spatial) {
        spatial.push_back(p->record.node);
        continue;
      }
      const std::string& input = p->node->input(0)->name();
      p->calib_key = p->patches.key(input);
      geometry[p->calib_key] = {input, p->patches};
      ++key_uses[p->calib_key];
    }
    if (!spatial.empty()) {
      std::string names;
      for (const std::string& s : spatial)
        names += (names.empty() ? "'" : ", '") + s + "'";
      result.warnings.push_back("whitening does not apply to spatial-mode convolutions; plain "
                                "SVD used for " +
                                names);
    }
    if (!geometry.empty()) {
      const auto t0 = Clock::now();
      calib_samples = accumulate_moments(graph, *ctx.executor, *ctx.calibration, o.samples,
                                         o.batch_size, geometry, moments, ctx.progress);
      calib_seconds = seconds_since(t0);
      if (calib_samples == 0)
        throw Error("pass 'lowrank' with whiten=true: the calibration data (" +
                    ctx.calibration->describe() + ") is empty");
    }
  }
  if (o.select == LowRankOptions::Select::budget && o.budget_metric == "flops") {
    for (LayerPlan* p : selected)
      if (!p->flops_known)
        result.warnings.push_back(describe(*p) + ": a spatial or sequence size is unknown, so "
                                                 "its FLOPs count that size as 1");
  }

  double svd_seconds = 0;
  size_t layer_index = 0;
  auto release = [&](const LayerPlan& p) {
    if (p.calib_key.empty()) return;
    if (--key_uses[p.calib_key] == 0) moments.erase(p.calib_key);
  };
  auto factorize = [&](LayerPlan& p, const Prepared& prep) {
    const auto t0 = Clock::now();
    const int64_t r = p.rank;
    const bool randomized =
        o.svd == "randomized" || (o.svd == "auto" && auto_randomized(p.rows, p.cols, r));
    const uint64_t seed = ctx.seed * 0x9E3779B97F4A7C15ull + layer_index;
    const MatrixF u = top_left_singular_vectors(prep.target(), r, randomized, seed);
    const MatrixF first = u.transpose() * prep.w;
    LowRankLayer& rec = p.record;
    if (!p.calib_key.empty()) {
      // tr(E C E^T) / tr(W C W^T) with the undamped C: the layer's relative output error.
      const MatrixF c = moments.at(p.calib_key).c.cast<float>();
      const MatrixF e = prep.w - u * first;
      const double err = static_cast<double>((e * c).cwiseProduct(e).sum());
      const double ref = static_cast<double>((prep.w * c).cwiseProduct(prep.w).sum());
      rec.output_error = ref > 0 ? std::sqrt(std::max(0.0, err) / ref) : 0.0;
    }
    rewrite_layer(graph, p, first, u);
    rec.factorized = true;
    rec.rank = r;
    rec.whitened = prep.whitened;
    rec.svd = randomized ? "randomized" : "exact";
    rec.params_after = r * p.params_per_rank;
    rec.flops_after = static_cast<double>(r) * p.flops_per_rank;
    rec.energy_kept = energy_kept(p.spectrum, r);
    svd_seconds += seconds_since(t0);
    rec.seconds += seconds_since(t0);
  };

  const bool budget = o.select == LowRankOptions::Select::budget;
  for (LayerPlan* p : selected) {
    const auto t0 = Clock::now();
    if (ctx.progress)
      ctx.progress(static_cast<int64_t>(layer_index), static_cast<int64_t>(selected.size()),
                   "lowrank: " + p->record.node);
    Prepared prep = prepare(*p, moments, o.damp, &result.warnings);
    p->whiten = prep.whitened;
    p->spectrum = squared_singular_values(prep.target());
    svd_seconds += seconds_since(t0);
    p->record.seconds += seconds_since(t0);
    if (!budget) {
      int64_t r = o.select == LowRankOptions::Select::energy
                      ? energy_rank(p->spectrum, o.energy)
                      : static_cast<int64_t>(std::ceil(o.ratio * p->full_rank - 1e-9));
      r = round_rank(r, o.multiple, p->full_rank);
      if (o.force || worthwhile(*p, r)) {
        p->rank = r;
        factorize(*p, prep);
      } else {
        p->record.reason = "not worth it: rank " + num(r) + " of " + num(p->full_rank) + " needs " +
                           num(double(r * p->params_per_rank)) + " weights and " +
                           num(r * p->flops_per_rank) + " FLOPs, the layer has " +
                           num(double(p->params_full)) + " and " + num(p->flops_full);
      }
      release(*p);
    }
    ++layer_index;
  }

  if (budget && !selected.empty()) {
    const bool flops = o.budget_metric == "flops";
    std::vector<BudgetLayer> items;
    double full_total = 0;
    for (LayerPlan* p : selected) {
      BudgetLayer b;
      b.full_cost = flops ? p->flops_full : static_cast<double>(p->params_full);
      full_total += b.full_cost;
      const double per_rank = flops ? p->flops_per_rank : static_cast<double>(p->params_per_rank);
      for (int64_t r = p->full_rank / o.multiple * o.multiple; r >= o.multiple; r -= o.multiple) {
        if (!o.force && !worthwhile(*p, r)) continue;
        b.ranks.push_back(r);
        b.costs.push_back(static_cast<double>(r) * per_rank);
        b.losses.push_back(1.0 - energy_kept(p->spectrum, r));
      }
      items.push_back(std::move(b));
    }
    const double target = o.budget * full_total;
    double min_cost = 0;
    std::vector<int64_t> ranks = allocate_budget(items, target, &min_cost);
    const std::string what = flops ? "FLOPs" : "weights";
    if (ranks.empty())
      throw Error("pass 'lowrank': a budget of " + percent(o.budget) + " of the " + what +
                  " of the " + num(double(selected.size())) + " selected layers (" +
                  num(full_total) + ", so at most " + num(target) + ") cannot be met: with " +
                  "every layer at its smallest worthwhile rank (a multiple of " +
                  num(double(o.multiple)) + ") they still need " + num(min_cost) + " (" +
                  percent(min_cost / full_total) + "). Raise budget, lower multiple, or " +
                  "select more layers");
    layer_index = 0;
    for (size_t i = 0; i < selected.size(); ++i, ++layer_index) {
      LayerPlan& p = *selected[i];
      p.rank = ranks[i];
      if (p.rank == 0) {
        p.record.reason = items[i].ranks.empty()
                              ? "not worth it: no rank saves both weights and FLOPs"
                              : "the budget is met without it";
      } else {
        const auto t0 = Clock::now();
        Prepared prep = prepare(p, moments, o.damp, nullptr);
        svd_seconds += seconds_since(t0);
        p.record.seconds += seconds_since(t0);
        factorize(p, prep);
      }
      release(p);
    }
  }

  // Records, stats and the log.
  int64_t factorized = 0, kept = 0, skipped = 0;
  double params_before = 0, params_after = 0, flops_before = 0, flops_after = 0;
  for (LayerPlan& p : plans) {
    LowRankLayer& rec = p.record;
    rec.selected = p.selected;
    if (!p.selected) {
      ++skipped;
    } else {
      rec.factorized ? ++factorized : ++kept;
      params_before += static_cast<double>(rec.params_before);
      params_after += static_cast<double>(rec.params_after);
      flops_before += rec.flops_before;
      flops_after += rec.flops_after;
      const std::string prefix = layer_stat_key(rec.node, "");
      Stats& s = result.stats;
      s[prefix + "rows"] = static_cast<double>(rec.rows);
      s[prefix + "cols"] = static_cast<double>(rec.cols);
      s[prefix + "full_rank"] = static_cast<double>(rec.full_rank);
      s[prefix + "rank"] = static_cast<double>(rec.rank);
      s[prefix + "factorized"] = rec.factorized ? 1 : 0;
      s[prefix + "params_before"] = static_cast<double>(rec.params_before);
      s[prefix + "params_after"] = static_cast<double>(rec.params_after);
      s[prefix + "flops_before"] = rec.flops_before;
      s[prefix + "flops_after"] = rec.flops_after;
      s[prefix + "energy_kept"] = rec.energy_kept;
      s[prefix + "output_error"] = rec.output_error;
      s[prefix + "whitened"] = rec.whitened ? 1 : 0;
    }
    if (ctx.log && p.selected) {
      *ctx.log << "lowrank: " << rec.node << " (" << rec.op << " " << rec.form << " " << rec.rows
               << "x" << rec.cols << "): ";
      if (rec.factorized) {
        *ctx.log << "rank " << rec.rank << "/" << rec.full_rank << ", weights " << rec.params_before
                 << " -> " << rec.params_after << ", energy kept " << rec.energy_kept;
        if (rec.output_error >= 0) *ctx.log << ", output error " << rec.output_error;
        *ctx.log << (rec.whitened ? ", whitened" : "") << ", " << rec.svd << " SVD\n";
      } else {
        *ctx.log << "kept, " << rec.reason << "\n";
      }
    }
    layers_.push_back(rec);
  }
  Stats& s = result.stats;
  s["layers_factorized"] = static_cast<double>(factorized);
  s["layers_kept"] = static_cast<double>(kept);
  s["layers_skipped"] = static_cast<double>(skipped);
  s["params_before"] = params_before;
  s["params_after"] = params_after;
  s["flops_before"] = flops_before;
  s["flops_after"] = flops_after;
  s["calibration_samples"] = static_cast<double>(calib_samples);
  s["seconds_calibration"] = calib_seconds;
  s["seconds_svd"] = svd_seconds;
  result.changed = factorized > 0;
  if (plans.empty())
    result.warnings.push_back("the graph has no Gemm, MatMul or Conv node with constant weights");
  return result;
}

std::vector<LowRankLayer> lowrank_layers_from_stats(const Stats& stats) {
  std::map<std::string, LowRankLayer> by_node;
  for_each_layer_stat(stats, [&](const std::string& node, const std::string& field, double value) {
    LowRankLayer& l = by_node[node];
    l.node = node;
    l.selected = true;
    const auto i = static_cast<int64_t>(std::llround(value));
    if (field == "rows")
      l.rows = i;
    else if (field == "cols")
      l.cols = i;
    else if (field == "full_rank")
      l.full_rank = i;
    else if (field == "rank")
      l.rank = i;
    else if (field == "factorized")
      l.factorized = i != 0;
    else if (field == "params_before")
      l.params_before = i;
    else if (field == "params_after")
      l.params_after = i;
    else if (field == "flops_before")
      l.flops_before = value;
    else if (field == "flops_after")
      l.flops_after = value;
    else if (field == "energy_kept")
      l.energy_kept = value;
    else if (field == "output_error")
      l.output_error = value;
    else if (field == "whitened")
      l.whitened = i != 0;
  });
  std::vector<LowRankLayer> out;
  for (auto& [node, l] : by_node)
    out.push_back(std::move(l));
  return out;
}

SHRINK_REGISTER_PASS(register_lowrank_pass, LowRankPass, "lowrank", kSummary);

} // namespace shrink
