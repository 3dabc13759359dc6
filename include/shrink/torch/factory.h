#pragma once
/// \file
/// The LibTorch trainer behind the torch-free `Trainer` interface, for code that may not include
/// LibTorch headers (the recipe environment, the CLI): `make_torch_trainer()` costs no LibTorch
/// compile time in its callers.

#include "shrink/ir/interfaces.h"

#include <memory>

namespace shrink {

/// A `TorchTrainer` (torch/trainer.h); `threads` > 0 sets LibTorch's intra-op thread count.
std::unique_ptr<Trainer> make_torch_trainer(int threads = 0);

} // namespace shrink
