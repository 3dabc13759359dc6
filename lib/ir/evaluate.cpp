#include "shrink/ir/evaluate.h"

#include "shrink/core/error.h"
#include "shrink/ir/graph.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

namespace shrink {

namespace {

const std::vector<std::string>& metric_names() {
  static const std::vector<std::string> names = {"accuracy", "cross-entropy", "perplexity",
                                                 "bits-per-char"};
  return names;
}

std::string type_str(const Tensor& t) {
  return dtype_name(t.dtype()) + shape_str(t.shape());
}

bool is_integer_label_type(DType d) {
  return d == DType::i64 || d == DType::i32 || d == DType::u8 || d == DType::i8;
}

std::string format_double(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

} // namespace

// ---- Metric --------------------------------------------------------------------------------

Metric Metric::parse(const std::string& name) {
  const auto& names = metric_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return Metric(static_cast<Kind>(i));
  std::string hint = closest_name(name, names);
  throw Error("unknown metric '" + name + "'" +
              (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
              "; known metrics: accuracy, cross-entropy, perplexity, bits-per-char");
}

const std::vector<std::string>& Metric::names() {
  return metric_names();
}

std::string Metric::name() const {
  return metric_names().at(static_cast<size_t>(kind));
}

void Metric::add(const Tensor& scores, const Tensor& labels, int64_t first_sample) {
  const std::string what = "metric '" + name() + "'";
  if (scores.rank() < 2)
    throw Error(what + " needs class scores N x C or N x T x C, but the model output is " +
                type_str(scores));
  if (!is_integer_label_type(labels.dtype()))
    throw Error(what + " needs integer class ids as labels, but the labels are " +
                type_str(labels));
  int64_t classes = scores.dim(-1);
  int64_t n = scores.dim(0);
  if (classes <= 0)
    throw Error(what + ": the model output " + type_str(scores) + " has no classes");
  int64_t rows = scores.numel() / classes;
  if (labels.rank() < 1 || labels.dim(0) != n || labels.numel() != rows)
    throw Error(what + ": the model output " + type_str(scores) + " does not fit the labels " +
                type_str(labels) +
                "; expected scores N x C with labels N, or scores N x T x C with labels N x T");
  if (rows == 0) return;
  int64_t per_sample = rows / n;

  Tensor f = scores.dtype() == DType::f32 ? scores : scores.cast(DType::f32);
  Tensor ids = labels.dtype() == DType::i64 ? labels : labels.cast(DType::i64);
  const float* s = f.data<float>();
  const int64_t* y = ids.data<int64_t>();

  for (int64_t r = 0; r < rows; ++r) {
    int64_t label = y[r];
    if (label < 0 || label >= classes) {
      std::string where = "sample " + std::to_string(first_sample + r / per_sample);
      if (per_sample > 1) where += ", position " + std::to_string(r % per_sample);
      throw Error("label " + std::to_string(label) + " at " + where + " is outside the model's " +
                  std::to_string(classes) + " classes (0.." + std::to_string(classes - 1) +
                  "); check that the data set matches the model's output");
    }
    const float* row = s + r * classes;
    if (kind == Kind::accuracy) {
      // First maximum wins, as torch.argmax does; NaN never compares greater.
      int64_t best = 0;
      for (int64_t c = 1; c < classes; ++c)
        if (row[c] > row[best]) best = c;
      correct += best == label ? 1 : 0;
    } else {
      float max = row[0];
      for (int64_t c = 1; c < classes; ++c)
        max = std::max(max, row[c]);
      double sum = 0.0;
      for (int64_t c = 0; c < classes; ++c)
        sum += std::exp(static_cast<double>(row[c]) - max);
      total_nll += static_cast<double>(max) + std::log(sum) - static_cast<double>(row[label]);
    }
  }
  predictions += rows;
}

double Metric::value() const {
  if (predictions == 0)
    throw Error("metric '" + name() + "' has no predictions to score (the data was empty)");
  double p = static_cast<double>(predictions);
  switch (kind) {
  case Kind::accuracy:
    return static_cast<double>(correct) / p;
  case Kind::cross_entropy:
    return total_nll / p;
  case Kind::perplexity:
    return std::exp(total_nll / p);
  case Kind::bits_per_char:
    return total_nll / p / std::log(2.0);
  }
  return 0.0;
}

double compute_metric(const std::string& name, const Tensor& scores, const Tensor& labels) {
  Metric m = Metric::parse(name);
  m.add(scores, labels);
  return m.value();
}

// ---- evaluate ------------------------------------------------------------------------------

std::string EvalResult::str() const {
  return metric + " " + format_double("%.4f", value) + " on " + std::to_string(samples) +
         " samples of " + data + " in " + format_double("%.2f", seconds) + " s (" +
         format_double("%.0f", samples_per_second) + " samples/s, " + executor + ")";
}

namespace {

// The batch tensor for graph input `v`: as is, or reshaped when the graph wants another layout
// of the same per-sample elements. Anything else is a clear error before the executor runs.
Tensor adapt_input(const Value& v, const Tensor& t, const DataSource& data) {
  const TensorType& want = v.type();
  auto mismatch = [&](const std::string& why) {
    return Error("graph input '" + v.name() + "' is " + want.str() + " but " + data.describe() +
                 " gives " + type_str(t) + ": " + why);
  };
  if (want.dtype != t.dtype()) throw mismatch("the element types differ");
  if (!want.ranked() || t.rank() == 0) return t;
  const std::vector<Dim>& dims = *want.dims;
  int64_t n = t.dim(0);
  if (!dims.empty() && dims[0].is_known() && dims[0].value != n)
    throw mismatch("the graph has a fixed batch size of " + std::to_string(dims[0].value) +
                   "; make its first dimension symbolic or evaluate with that batch size");
  bool same = static_cast<int>(dims.size()) == t.rank();
  for (size_t d = 1; same && d < dims.size(); ++d)
    if (dims[d].is_known() && dims[d].value != t.dim(static_cast<int>(d))) same = false;
  if (same) return t;
  Shape target = {n};
  int64_t per_sample = 1;
  for (size_t d = 1; d < dims.size(); ++d) {
    if (!dims[d].is_known()) throw mismatch("the sample shapes differ");
    target.push_back(dims[d].value);
    per_sample *= dims[d].value;
  }
  if (dims.empty() || per_sample * n != t.numel()) throw mismatch("the sample shapes differ");
  return t.reshaped(target);
}

} // namespace

EvalResult evaluate(const Graph& graph, const DataSource& data, const std::string& metric,
                    Executor& executor, const EvalOptions& options) {
  Metric m = Metric::parse(metric);
  if (options.batch_size <= 0)
    throw Error("evaluation batch size must be positive, got " +
                std::to_string(options.batch_size));
  if (graph.outputs().empty())
    throw Error("graph '" + graph.name() + "' has no outputs to evaluate");

  size_t out_index = 0;
  if (!options.output.empty()) {
    std::vector<std::string> names;
    for (const Value* v : graph.outputs())
      names.push_back(v->name());
    auto it = std::find(names.begin(), names.end(), options.output);
    if (it == names.end()) {
      std::string hint = closest_name(options.output, names);
      std::string list;
      for (const auto& s : names)
        list += (list.empty() ? "" : ", ") + s;
      throw Error("graph '" + graph.name() + "' has no output '" + options.output + "'" +
                  (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                  "; its outputs: " + list);
    }
    out_index = static_cast<size_t>(it - names.begin());
  }

  int64_t total = data.size();
  if (options.limit >= 0) total = std::min(total, options.limit);
  if (total == 0)
    throw Error("cannot evaluate '" + m.name() + "' on " + data.describe() +
                ": there are no samples");

  auto t0 = std::chrono::steady_clock::now();
  const auto& graph_inputs = graph.inputs();
  for (int64_t start = 0; start < total; start += options.batch_size) {
    int64_t count = std::min(options.batch_size, total - start);
    Batch b = data.batch(start, count);
    if (!b.labels)
      throw Error("metric '" + m.name() + "' needs labels, but " + data.describe() + " has none");
    if (b.inputs.size() != graph_inputs.size())
      throw Error("graph '" + graph.name() + "' has " + std::to_string(graph_inputs.size()) +
                  " inputs but " + data.describe() + " gives " + std::to_string(b.inputs.size()) +
                  " per batch");
    std::vector<Tensor> inputs;
    inputs.reserve(b.inputs.size());
    for (size_t i = 0; i < b.inputs.size(); ++i)
      inputs.push_back(adapt_input(*graph_inputs[i], b.inputs[i], data));
    std::vector<Tensor> outputs = executor.run(graph, inputs);
    if (outputs.size() <= out_index)
      throw Error("executor '" + executor.name() + "' returned " + std::to_string(outputs.size()) +
                  " outputs for graph '" + graph.name() + "', expected " +
                  std::to_string(graph.outputs().size()));
    const Tensor& scores = outputs[out_index];
    if (scores.rank() >= 1 && scores.dim(0) != b.inputs[0].dim(0))
      throw Error("output '" + graph.outputs()[out_index]->name() + "' of graph '" + graph.name() +
                  "' is " + type_str(scores) + " for a batch of " +
                  std::to_string(b.inputs[0].dim(0)) +
                  " samples; the metric needs the batch as the first dimension");
    m.add(scores, *b.labels, start);
    if (options.progress)
      options.progress(start + count, total,
                       m.predictions ? m.name() + " " + format_double("%.4f", m.value())
                                     : m.name());
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  EvalResult r;
  r.metric = m.name();
  r.value = m.value();
  r.samples = total;
  r.predictions = m.predictions;
  r.seconds = seconds;
  r.samples_per_second = seconds > 0 ? static_cast<double>(total) / seconds : 0.0;
  r.data = data.describe();
  r.executor = executor.name();
  return r;
}

} // namespace shrink
