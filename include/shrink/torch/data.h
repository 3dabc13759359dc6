#pragma once
/// \file
/// Training data helpers of the LibTorch trainer that need no LibTorch: seeded epoch orders,
/// batches of chosen samples, image augmentation, and a clean stop on Ctrl-C.

#include "shrink/ir/interfaces.h"

#include <cstdint>
#include <vector>

namespace shrink {

/// The order of the samples `[0, n)` in `epoch` of a run seeded with `seed`: a Fisher-Yates
/// shuffle driven by SplitMix64, identical on every platform.
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int epoch);

/// The samples `indices` of `data` as one batch (consecutive indices are read together).
Batch gather_batch(const DataSource& data, const std::vector<int64_t>& indices);

/// Random crop (zero padding `padding`, same size) and horizontal flip (probability 0.5) of
/// every image of an `N x C x H x W` f32 batch input 0, seeded. Other inputs stay unchanged.
/// When the batch is the part of a larger batch that starts at its sample `first_sample` (one
/// process's share in data-parallel training), each image gets the crop and flip it would get
/// in the larger batch.
void augment_crop_flip(Batch& batch, uint64_t seed, int64_t padding = 2, int64_t first_sample = 0);

/// Sets a flag on SIGINT while alive, so that a training loop can finish its step and stop
/// cleanly; the previous handler is restored on destruction.
class InterruptGuard {
public:
  /// Installs the handler.
  InterruptGuard();
  /// Restores the previous handler.
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
  /// True once SIGINT arrived while the guard was alive.
  static bool interrupted();
  /// Raises the flag as SIGINT would (for tests and embedding applications).
  static void request_stop();
};

} // namespace shrink
