#include "shrink/torch/factory.h"

#include "shrink/torch/trainer.h"

namespace shrink {

std::unique_ptr<Trainer> make_torch_trainer(int threads) {
  return std::make_unique<TorchTrainer>(threads);
}

} // namespace shrink
