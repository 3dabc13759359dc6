// Data handling of the trainer that needs no LibTorch: seeded epoch orders, batches of chosen
// samples, image augmentation and the SIGINT flag. Kept out of the LibTorch translation units
// because those cost tens of seconds each to compile.

#include "shrink/torch/data.h"
#include "shrink/core/error.h"
#include "shrink/io/datasets.h"

#include <atomic>
#include <csignal>
#include <cstring>

namespace shrink {

namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::atomic<bool> g_interrupted{false};
void (*g_previous)(int) = SIG_DFL;

extern "C" void on_sigint(int) {
  g_interrupted.store(true);
}

} // namespace

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    order[static_cast<size_t>(i)] = i;
  uint64_t state = seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch) + 1;
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(splitmix64(state) % static_cast<uint64_t>(i + 1));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

Batch gather_batch(const DataSource& data, const std::vector<int64_t>& indices) {
  std::vector<Batch> parts;
  size_t i = 0;
  while (i < indices.size()) {
    size_t j = i + 1;
    while (j < indices.size() && indices[j] == indices[j - 1] + 1)
      ++j;
    parts.push_back(data.batch(indices[i], static_cast<int64_t>(j - i)));
    i = j;
  }
  if (parts.size() == 1) return std::move(parts[0]);
  return concat_batches(parts);
}

void augment_crop_flip(Batch& batch, uint64_t seed, int64_t padding, int64_t first_sample) {
  if (batch.inputs.empty()) return;
  Tensor& x = batch.inputs[0];
  if (x.dtype() != DType::f32 || x.rank() != 4)
    throw Error("crop-flip augmentation needs f32 N x C x H x W images as input 0, got " +
                std::string(dtype_name(x.dtype())) + shape_str(x.shape()));
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  Tensor out(DType::f32, x.shape());
  const float* src = x.data<float>();
  float* dst = out.data_mutable<float>();
  uint64_t state = seed;
  for (int64_t s = 0; s < first_sample; ++s)
    splitmix64(state);
  for (int64_t s = 0; s < n; ++s) {
    const uint64_t r = splitmix64(state);
    const int64_t span = 2 * padding + 1;
    const int64_t dy = static_cast<int64_t>(r % span) - padding;
    const int64_t dx = static_cast<int64_t>((r / span) % span) - padding;
    const bool flip = ((r >> 40) & 1) != 0;
    for (int64_t ch = 0; ch < c; ++ch) {
      const float* plane = src + (s * c + ch) * h * w;
      float* o = dst + (s * c + ch) * h * w;
      for (int64_t y = 0; y < h; ++y)
        for (int64_t xx = 0; xx < w; ++xx) {
          const int64_t sy = y + dy;
          const int64_t sx0 = xx + dx;
          const int64_t sx = flip ? (w - 1 - sx0) : sx0;
          o[y * w + xx] = sy >= 0 && sy < h && sx0 >= 0 && sx0 < w ? plane[sy * w + sx] : 0.0f;
        }
    }
  }
  x = out;
}

InterruptGuard::InterruptGuard() {
  g_interrupted.store(false);
  g_previous = std::signal(SIGINT, on_sigint);
}

InterruptGuard::~InterruptGuard() {
  std::signal(SIGINT, g_previous == SIG_ERR ? SIG_DFL : g_previous);
}

bool InterruptGuard::interrupted() {
  return g_interrupted.load();
}

void InterruptGuard::request_stop() {
  g_interrupted.store(true);
}

} // namespace shrink
