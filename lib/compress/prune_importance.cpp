#include "shrink/compress/prune_importance.h"

#include "shrink/compress/calibrate.h"
#include "shrink/core/error.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

namespace shrink {

namespace {

/// Per index of `axis`: the sum of f(x) over the slice of `t` at that index.
template <typename F> std::vector<double> per_index(const Tensor& t, int axis, F f) {
  const Tensor x = t.dtype() == DType::f32 ? t : t.cast(DType::f32);
  const float* p = x.data<float>();
  const int64_t size = x.dim(axis);
  int64_t inner = 1;
  for (int i = axis + 1; i < x.rank(); ++i)
    inner *= x.dim(i);
  std::vector<double> out(static_cast<size_t>(size), 0.0);
  for (int64_t i = 0; i < x.numel(); ++i)
    out[static_cast<size_t>((i / inner) % size)] += f(p[i], i);
  return out;
}

/// Divides `s` by its mean (when positive) and adds it to `total`.
void add_normalized(std::vector<double>& total, const std::vector<double>& s) {
  double mean = 0;
  for (double v : s)
    mean += v;
  mean /= static_cast<double>(std::max<size_t>(s.size(), 1));
  if (!(mean > 0) || !std::isfinite(mean)) return;
  for (size_t u = 0; u < s.size(); ++u)
    total[u] += s[u] / mean;
}

/// Per unit of `m`: combine(per-index values of the unit).
template <typename F>
std::vector<double> per_unit(const PruneMember& m, const std::vector<double>& idx, F combine) {
  std::vector<double> out;
  for (const std::vector<int64_t>& unit : m.units) {
    std::vector<double> vals;
    for (int64_t i : unit)
      vals.push_back(idx[static_cast<size_t>(i)]);
    out.push_back(combine(vals));
  }
  return out;
}

double sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v)
    s += x;
  return s;
}

bool is_weight(const PruneMember& m) {
  return m.role == PruneRole::Output || m.role == PruneRole::Input;
}

/// Weight-norm importance (l1 or l2) of one group.
std::vector<double> norm_importance(const Graph& g, const PruneGroup& grp, bool l2) {
  std::vector<double> total(static_cast<size_t>(grp.units), 0.0);
  for (const PruneMember& m : grp.members) {
    if (!is_weight(m)) continue;
    const Tensor& t = *constant_value(g.find_value(m.value));
    std::vector<double> idx =
        l2 ? per_index(t, m.axis, [](float v, int64_t) { return double(v) * v; })
           : per_index(t, m.axis, [](float v, int64_t) { return std::fabs(double(v)); });
    add_normalized(total, per_unit(m, idx, [&](const std::vector<double>& v) {
                     return l2 ? std::sqrt(sum(v)) : sum(v);
                   }));
  }
  return total;
}

bool has_weight(const PruneGroup& grp) {
  return std::any_of(grp.members.begin(), grp.members.end(), is_weight);
}

} // namespace

const std::vector<std::string>& prune_criterion_names() {
  static const std::vector<std::string> names = {"l1",     "l2",         "bn-scale",
                                                 "taylor", "activation", "random"};
  return names;
}

PruneCriterion parse_prune_criterion(const std::string& name) {
  const std::vector<std::string>& names = prune_criterion_names();
  auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) {
    std::string known;
    for (const std::string& n : names)
      known += (known.empty() ? "" : ", ") + n;
    std::string hint = closest_name(name, names);
    throw RecipeError("unknown pruning criterion '" + name + "'" +
                      (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                      "; known: " + known);
  }
  return static_cast<PruneCriterion>(it - names.begin());
}

std::string prune_criterion_name(PruneCriterion criterion) {
  return prune_criterion_names()[static_cast<size_t>(criterion)];
}

std::vector<std::vector<double>> unit_importance(const Graph& graph,
                                                 const std::vector<PruneGroup>& groups,
                                                 const std::vector<bool>& which,
                                                 const ImportanceOptions& options, PassContext& ctx,
                                                 std::vector<std::string>* warnings) {
  auto wanted = [&](size_t i) { return which.empty() || (i < which.size() && which[i]); };
  auto warn = [&](const std::string& w) {
    if (warnings) warnings->push_back(w);
  };
  std::vector<std::vector<double>> out(groups.size());
  const std::string& pass = options.pass;

  switch (options.criterion) {
  case PruneCriterion::L1:
  case PruneCriterion::L2:
    for (size_t i = 0; i < groups.size(); ++i) {
      if (!wanted(i)) continue;
      out[i] = norm_importance(graph, groups[i], options.criterion == PruneCriterion::L2);
      if (!has_weight(groups[i]))
        warn("group '" + groups[i].name() +
             "' has no layer weight to measure; its units rank "
             "equal");
    }
    return out;

  case PruneCriterion::BnScale: {
    std::vector<std::string> fallback;
    for (size_t i = 0; i < groups.size(); ++i) {
      if (!wanted(i)) continue;
      const PruneGroup& grp = groups[i];
      std::vector<double> total(static_cast<size_t>(grp.units), 0.0);
      bool found = false;
      for (const PruneMember& m : grp.members) {
        if (m.layer_op != "BatchNormalization" || m.layer_input != 1) continue;
        found = true;
        const Tensor& gamma = *constant_value(graph.find_value(m.value));
        std::vector<double> idx =
            per_index(gamma, m.axis, [](float v, int64_t) { return std::fabs(double(v)); });
        add_normalized(total, per_unit(m, idx, sum));
      }
      if (!found) {
        fallback.push_back(grp.name());
        total = norm_importance(graph, grp, true);
      }
      out[i] = total;
    }
    if (!fallback.empty()) {
      std::string list;
      for (const std::string& n : fallback)
        list += (list.empty() ? "" : ", ") + n;
      warn("bn-scale: no BatchNormalization in group(s) " + list + "; ranked by l2 instead");
    }
    return out;
  }

  case PruneCriterion::Taylor: {
    const DataSource* data = ctx.train ? ctx.train : ctx.calibration;
    if (!ctx.trainer)
      throw Error(pass + ": taylor needs a trainer (PassContext::trainer, the LibTorch bridge) "
                         "to compute gradients; none given. Use criterion l1, l2 or bn-scale "
                         "without one");
    if (!data)
      throw Error(pass + ": taylor needs data to compute gradients on: give training or "
                         "calibration data");
    std::vector<std::pair<std::string, Tensor>> grads =
        ctx.trainer->gradients(graph, *data, options.samples);
    std::map<std::string, Tensor> by_name(grads.begin(), grads.end());
    for (size_t i = 0; i < groups.size(); ++i) {
      if (!wanted(i)) continue;
      const PruneGroup& grp = groups[i];
      std::vector<double> total(static_cast<size_t>(grp.units), 0.0);
      bool any = false;
      for (const PruneMember& m : grp.members) {
        if (m.role == PruneRole::Activation) continue;
        auto it = by_name.find(m.value);
        if (it == by_name.end()) continue;
        const Tensor& w = *constant_value(graph.find_value(m.value));
        const Tensor gr =
            it->second.dtype() == DType::f32 ? it->second : it->second.cast(DType::f32);
        if (gr.shape() != w.shape()) {
          warn("taylor: the gradient of '" + m.value + "' has shape " + shape_str(gr.shape()) +
               ", the weight " + shape_str(w.shape()) + "; ignored");
          continue;
        }
        any = true;
        const float* gp = gr.data<float>();
        std::vector<double> idx =
            per_index(w, m.axis, [&](float v, int64_t k) { return double(v) * gp[k]; });
        add_normalized(total, per_unit(m, idx, [](const std::vector<double>& v) {
                         return std::fabs(sum(v));
                       }));
      }
      if (!any) warn("taylor: no gradient for any constant of group '" + grp.name() + "'");
      out[i] = total;
    }
    return out;
  }

  case PruneCriterion::Activation: {
    require_calibration(graph, ctx, pass + " with criterion=activation");
    // The activations to watch: the outputs of each group's producers.
    std::vector<std::string> fetch;
    std::vector<std::vector<size_t>> group_members(groups.size());
    std::map<std::string, size_t> fetch_index;
    for (size_t i = 0; i < groups.size(); ++i) {
      if (!wanted(i)) continue;
      const PruneGroup& grp = groups[i];
      std::set<std::string> producer_outputs;
      for (const std::string& p : grp.producers)
        if (const Node* n = graph.find_node(p)) producer_outputs.insert(n->output(0)->name());
      for (size_t k = 0; k < grp.members.size(); ++k) {
        const PruneMember& m = grp.members[k];
        if (m.role != PruneRole::Activation) continue;
        if (!producer_outputs.empty() && !producer_outputs.count(m.value)) continue;
        group_members[i].push_back(k);
        if (!fetch_index.count(m.value)) {
          fetch_index[m.value] = fetch.size();
          fetch.push_back(m.value);
        }
        if (producer_outputs.empty()) break;
      }
    }
    // Sum of |x| per (value, axis) index, and elements per index, over every sample read.
    std::map<std::pair<std::string, int>, std::vector<double>> sums;
    std::map<std::pair<std::string, int>, double> counts;
    const int64_t total = std::min(options.samples, ctx.calibration->size());
    const size_t n_out = graph.outputs().size();
    for (int64_t start = 0; start < total; start += options.batch_size) {
      const int64_t count = std::min(options.batch_size, total - start);
      Batch batch = ctx.calibration->batch(start, count);
      std::vector<Tensor> res = ctx.executor->run(graph, batch.inputs, fetch);
      std::set<std::pair<std::string, int>> done;
      for (size_t i = 0; i < groups.size(); ++i)
        for (size_t k : group_members[i]) {
          const PruneMember& m = groups[i].members[k];
          auto key = std::make_pair(m.value, m.axis);
          if (!done.insert(key).second) continue;
          const Tensor& act = res.at(n_out + fetch_index[m.value]);
          std::vector<double> s =
              per_index(act, m.axis, [](float v, int64_t) { return std::fabs(double(v)); });
          std::vector<double>& acc = sums[key];
          if (acc.empty()) acc.assign(s.size(), 0.0);
          for (size_t j = 0; j < s.size(); ++j)
            acc[j] += s[j];
          counts[key] += static_cast<double>(act.numel()) / static_cast<double>(act.dim(m.axis));
        }
      if (ctx.progress) ctx.progress(start + count, total, pass + ": activation statistics");
    }
    for (size_t i = 0; i < groups.size(); ++i) {
      if (!wanted(i)) continue;
      const PruneGroup& grp = groups[i];
      std::vector<double> t(static_cast<size_t>(grp.units), 0.0);
      for (size_t k : group_members[i]) {
        const PruneMember& m = grp.members[k];
        auto key = std::make_pair(m.value, m.axis);
        std::vector<double> mean = sums[key];
        for (double& v : mean)
          v /= std::max(counts[key], 1.0);
        add_normalized(t, per_unit(m, mean, [](const std::vector<double>& v) {
                         return v.empty() ? 0.0 : sum(v) / static_cast<double>(v.size());
                       }));
      }
      out[i] = t;
    }
    return out;
  }

  case PruneCriterion::Random:
    for (size_t i = 0; i < groups.size(); ++i) {
      if (!wanted(i)) continue;
      std::mt19937_64 rng(options.seed * 0x9E3779B97F4A7C15ULL + ctx.seed * 0xBF58476D1CE4E5B9ULL +
                          static_cast<uint64_t>(groups[i].id) + 1);
      std::uniform_real_distribution<double> uni(0.0, 1.0);
      for (int64_t u = 0; u < groups[i].units; ++u)
        out[i].push_back(uni(rng));
    }
    return out;
  }
  return out;
}

} // namespace shrink
