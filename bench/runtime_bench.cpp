// Times the reference executor against the oneDNN runtime (fp32 and int8) on a ResNet-style CNN
// for 1x28x28 images and a 4-layer transformer encoder (sequence 128, hidden 256), at batch 1
// and 64 with 1 and 2 threads, and reports the fraction of per-core peak reached by the largest
// convolution and GEMM. Every time is the median of several runs after a warm-up run (which
// plans). Usage: shrink_bench_runtime [--repeats N] [--no-reference] [--quick] [--profile]
// (--profile prints every step of the batch-64 single-thread plans with its time per run).

#include "shrink/core/error.h"
#include "shrink/exec/onednn.h"
#include "shrink/exec/reference.h"
#include "shrink/ir/shape_inference.h"

#include "exec/onednn_models.h"
#include "exec/qdq_graphs.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

using namespace shrink;
using namespace shrink::testing;

namespace {

using Clock = std::chrono::steady_clock;

double median_ms(Executor& exec, const Graph& g, const std::vector<Tensor>& inputs, int repeats) {
  exec.run(g, inputs); // warm-up: planning, weight packing, first-touch of buffers
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = Clock::now();
    exec.run(g, inputs);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

double cpuinfo_mhz() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("cpu MHz", 0) == 0) return std::atof(line.substr(line.find(':') + 1).c_str());
  return 0.0;
}

// Measures the core clock with a chain of dependent integer adds (one cycle each).
double measured_mhz() {
  const int64_t iters = 50'000'000;
  double best = 0.0;
  for (int rep = 0; rep < 5; ++rep) {
    uint64_t x = 0;
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < iters; ++i) {
      asm volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
                   "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0"
                   : "+r"(x));
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, 8.0 * static_cast<double>(iters) / s / 1e6);
  }
  return best;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

struct Model {
  std::string name;
  Graph fp32;
  Graph int8;
  Shape sample; // input shape without the batch
};

Tensor input_for(const Shape& sample, int64_t batch, uint64_t seed) {
  Shape s = {batch};
  s.insert(s.end(), sample.begin(), sample.end());
  return scaled_random(s, seed, 1.f);
}

// The QDQ form of a one-layer graph whose input "x" is fed as u8 directly (the graph input is
// the quantized tensor), so that the layer is timed without the input's QuantizeLinear.
Graph int8_input(const Graph& fp32) {
  std::map<std::string, ActQuant> p = {{"x", act_quant_for_range(-1.f, 1.f)}};
  Graph g = make_qdq(fp32, p);
  Value* x = g.find_value("x");
  Node* q = x->uses().at(0).node;
  TensorType t = x->type();
  t.dtype = DType::u8;
  Value* xq = g.add_input("xq", t);
  g.replace_all_uses(q->output(), xq);
  g.erase(q);
  g.erase_value(x);
  infer_shapes(g);
  return g;
}

// One convolution (bias + ReLU) or one GEMM (bias) as a graph, fp32 or int8.
Graph conv_layer(int64_t c, int64_t hw, bool int8) {
  Graph g("conv_layer");
  Value* x = g.add_input("x", batch_type({c, hw, hw}));
  g.set_outputs({g.add_op("Relu", {conv(g, x, c, c, 3, 1, 5, "conv")}, {}, "relu")});
  infer_shapes(g);
  return int8 ? int8_input(g) : std::move(g);
}

Graph gemm_layer(int64_t k, int64_t n, bool int8) {
  Graph g("gemm_layer");
  Value* x = g.add_input("x", batch_type({k}));
  g.set_outputs({linear(g, x, k, n, 5, "fc")});
  infer_shapes(g);
  return int8 ? int8_input(g) : std::move(g);
}

Tensor layer_input(const Shape& sample, int64_t rows, bool int8) {
  Tensor f = input_for(sample, rows, 9);
  if (!int8) return f;
  Tensor q(DType::u8, f.shape());
  for (int64_t i = 0; i < f.numel(); ++i)
    q.data_mutable<uint8_t>()[i] = static_cast<uint8_t>(128 + 127 * f.data<float>()[i]);
  return q;
}

} // namespace

int main(int argc, char** argv) {
  int repeats = 15;
  bool reference = true;
  bool profile = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) {
      repeats = std::max(1, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--no-reference")) {
      reference = false;
    } else if (!std::strcmp(argv[i], "--quick")) {
      repeats = 5;
    } else if (!std::strcmp(argv[i], "--profile")) {
      profile = true;
    } else {
      std::cerr << "usage: shrink_bench_runtime [--repeats N] [--no-reference] [--quick] "
                   "[--profile]\n";
      return 2;
    }
  }
  try {
    const double mhz_info = cpuinfo_mhz();
    const double mhz = measured_mhz();
    std::printf("load average at start: %s\n", load_average().c_str());
    std::printf("clock: %.0f MHz measured (dependent adds), %.0f MHz in /proc/cpuinfo\n", mhz,
                mhz_info);
    std::printf("per-core peak at the measured clock: %.1f GFLOP/s fp32 (64 flop/cycle), "
                "%.1f GOP/s int8 (256 op/cycle)\n\n",
                64.0 * mhz / 1e3, 256.0 * mhz / 1e3);

    std::vector<Model> models;
    {
      OneDnnExecutor calib;
      Graph cnn = resnet_cnn(32, 1);
      Graph cnn_q = quantize_for_test(cnn, calib, {{input_for({1, 28, 28}, 64, 100)}});
      models.push_back({"cnn", std::move(cnn), std::move(cnn_q), {1, 28, 28}});
      Graph tr = transformer_encoder(128, 256, 4, 4);
      Graph tr_q = quantize_for_test(tr, calib, {{input_for({128, 256}, 8, 101)}});
      models.push_back({"transformer", std::move(tr), std::move(tr_q), {128, 256}});
    }

    std::printf("%-12s %5s %7s %14s %14s %14s %9s %9s\n", "model", "batch", "threads",
                "reference ms", "onednn fp32", "onednn int8", "fp32/ref", "int8/fp32");
    for (const Model& m : models) {
      for (int64_t batch : {1, 64}) {
        const std::vector<Tensor> in = {input_for(m.sample, batch, 7)};
        double ref_ms = -1.0;
        if (reference) {
          ReferenceExecutor ref;
          ref_ms = median_ms(ref, m.fp32, in, batch == 1 ? std::max(3, repeats / 3) : 3);
        }
        for (int threads : {1, 2}) {
          OneDnnExecutor exec({threads});
          const double fp = median_ms(exec, m.fp32, in, repeats);
          const double q = median_ms(exec, m.int8, in, repeats);
          std::printf("%-12s %5lld %7d %14s %14.3f %14.3f %9s %8.2fx\n", m.name.c_str(),
                      static_cast<long long>(batch), threads,
                      ref_ms < 0 ? "-" : std::to_string(ref_ms).substr(0, 10).c_str(), fp, q,
                      ref_ms < 0 ? "-" : (std::to_string(ref_ms / fp).substr(0, 6) + "x").c_str(),
                      fp / q);
          std::fflush(stdout);
          if (profile && batch == 64 && threads == 1) {
            OneDnnExecutor p({1});
            median_ms(p, m.fp32, in, 3);
            std::printf("%s fp32 plan:\n%s", m.name.c_str(), p.plan_info().str().c_str());
            median_ms(p, m.int8, in, 3);
            std::printf("%s int8 plan:\n%s", m.name.c_str(), p.plan_info().str().c_str());
          }
        }
      }
    }

    std::printf("\nlargest layers, batch 64 (fraction of peak at %.0f MHz):\n", mhz);
    std::printf("%-44s %7s %10s %12s %8s\n", "layer", "threads", "ms", "G(FL)OP/s", "of peak");
    struct Layer {
      std::string name;
      bool int8;
      Graph g;
      Shape sample;
      double ops; // per sample
    };
    std::vector<Layer> layers;
    for (bool int8 : {false, true}) {
      // The CNN's 3x3 convolutions all do the same work; 64 channels at 14x14 is one of them.
      layers.push_back({std::string("conv 64->64 3x3 14x14 +bias+relu ") + (int8 ? "int8" : "fp32"),
                        int8,
                        conv_layer(64, 14, int8),
                        {64, 14, 14},
                        2.0 * 64 * 64 * 9 * 14 * 14});
      // The transformer's largest GEMM: the first FFN layer, 128 tokens x 256 -> 1024.
      layers.push_back({std::string("gemm 8192x256 x 256x1024 +bias ") + (int8 ? "int8" : "fp32"),
                        int8,
                        gemm_layer(256, 1024, int8),
                        {256},
                        2.0 * 256 * 1024});
    }
    for (const Layer& l : layers) {
      const int64_t rows = l.sample.size() == 1 ? 64 * 128 : 64;
      const std::vector<Tensor> in = {layer_input(l.sample, rows, l.int8)};
      for (int threads : {1, 2}) {
        OneDnnExecutor exec({threads});
        const double ms = median_ms(exec, l.g, in, repeats);
        const double gops = l.ops * static_cast<double>(rows) / (ms * 1e6);
        const double peak = (l.int8 ? 256.0 : 64.0) * mhz / 1e3 * threads;
        std::printf("%-44s %7d %10.3f %12.1f %7.1f%%\n", l.name.c_str(), threads, ms, gops,
                    100.0 * gops / peak);
        if (threads == 1) {
          const OneDnnPlanInfo info = exec.plan_info();
          for (const OneDnnStepInfo& s : info.steps)
            if (s.kind.find("conv") != std::string::npos ||
                s.kind.find("matmul") != std::string::npos)
              std::printf("    %s: %s\n", s.kind.c_str(), s.implementation.c_str());
        }
      }
    }
    std::printf("\nload average at end: %s\n", load_average().c_str());
  } catch (const std::exception& e) {
    std::cerr << "shrink_bench_runtime: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
