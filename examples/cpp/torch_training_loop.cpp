// A shrink Graph trained in your own LibTorch loop: lower it to a torch::nn::Module, train with
// any optimizer, write the weights back into the Graph, save it as ONNX and evaluate it.
//
//   torch_training_loop [steps=300] [out=small_cnn.onnx]
//
// Reads Fashion-MNIST from /usr/share/datasets/fashion-mnist (Debian dataset-fashion-mnist).

#include "shrink/exec/reference.h"
#include "shrink/io/datasets.h"
#include "shrink/io/model.h"
#include "shrink/ir/evaluate.h"
#include "shrink/ir/text.h"
#include "shrink/torch/graph_module.h"
#include "shrink/torch/trainer.h"

#include <torch/nn/functional/loss.h>
#include <torch/optim/sgd.h>

#include <iostream>
#include <string>

int main(int argc, char** argv) {
  const int64_t steps = argc > 1 ? std::stoll(argv[1]) : 300;
  const std::string out = argc > 2 ? argv[2] : "small_cnn.onnx";
  try {
    // Any Graph works: loaded from ONNX (shrink::load_model) or written in the IR text form.
    shrink::Graph graph = shrink::parse(R"(graph @small_cnn(%x: f32[N,1,28,28]) {
  %w1 = const f32[8,1,3,3] random(seed=1)
  %b1 = const f32[8] zeros
  %w2 = const f32[16,8,3,3] random(seed=2)
  %b2 = const f32[16] zeros
  %wf = const f32[10,16] random(seed=3)
  %bf = const f32[10] zeros
  %c1 = Conv(%x, %w1, %b1) {pads=[1,1,1,1]} : f32[N,8,28,28]
  %r1 = Relu(%c1) : f32[N,8,28,28]
  %p1 = MaxPool(%r1) {kernel_shape=[2,2], strides=[2,2]} : f32[N,8,14,14]
  %c2 = Conv(%p1, %w2, %b2) {pads=[1,1,1,1]} : f32[N,16,14,14]
  %r2 = Relu(%c2) : f32[N,16,14,14]
  %g = GlobalAveragePool(%r2) : f32[N,16,1,1]
  %f = Flatten(%g) : f32[N,16]
  %y = Gemm(%f, %wf, %bf) {transB=1} : f32[N,10]
  return %y
})");
    auto train = shrink::fashion_mnist("train");
    auto test = shrink::fashion_mnist("test", 2000);

    shrink::GraphModule module(graph); // initializers -> parameters
    module->train();
    torch::optim::SGD opt(module->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
    const int64_t batch = 64;
    std::vector<int64_t> order = shrink::epoch_order(train->size(), /*seed=*/0, /*epoch=*/1);
    for (int64_t step = 0; step < steps; ++step) {
      const int64_t lo = (step * batch) % (train->size() - batch);
      shrink::Batch b = shrink::gather_batch(
          *train, std::vector<int64_t>(order.begin() + lo, order.begin() + lo + batch));
      torch::Tensor x = shrink::to_torch(b.inputs[0]);
      torch::Tensor y = shrink::to_torch(*b.labels);
      torch::Tensor loss = torch::nn::functional::cross_entropy(module->forward({x})[0], y);
      opt.zero_grad();
      loss.backward();
      opt.step();
      if ((step + 1) % 100 == 0)
        std::cout << "step " << step + 1 << " loss " << loss.item<double>() << "\n";
    }

    module->write_back(graph); // trained weights -> the Graph's initializers
    shrink::save_model(graph, out);
    shrink::ReferenceExecutor exec;
    shrink::EvalResult r = shrink::evaluate(shrink::load_model(out), *test, "accuracy", exec);
    std::cout << "saved " << out << ": " << r.str() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
