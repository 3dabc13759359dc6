// The f32 GEMM behind Conv, ConvTranspose, Gemm and MatMul. A plain triple loop is 10-50x too
// slow for the CNNs the toolkit calibrates and evaluates, so this is the classic blocked scheme:
// op(B) is packed into KC x NR panels, op(A) into MR x KC panels (packing also absorbs the
// transposes), and a register-blocked micro-kernel accumulates an MR x NR tile of C. The
// micro-kernel uses GCC/Clang vector extensions, which compile to SSE on any x86-64 without -march
// flags; other compilers get the scalar loop with the same blocking.

#include "kernel_util.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace shrink {
namespace kernels {

namespace {

constexpr int64_t kMr = 4;
constexpr int64_t kNr = 8;
constexpr int64_t kKc = 256;
constexpr int64_t kMc = 128;
constexpr int64_t kNc = 512;

#if defined(__GNUC__)
typedef float Vec4 __attribute__((vector_size(16)));

inline Vec4 load4(const float* p) {
  Vec4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void store4(float* p, Vec4 v) {
  std::memcpy(p, &v, sizeof v);
}

void micro_kernel(int64_t kc, const float* ap, const float* bp, float* acc) {
  Vec4 c00 = {0, 0, 0, 0}, c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
       c31 = c00;
  for (int64_t p = 0; p < kc; ++p) {
    Vec4 b0 = load4(bp), b1 = load4(bp + 4);
    float a0 = ap[0], a1 = ap[1], a2 = ap[2], a3 = ap[3];
    c00 += a0 * b0;
    c01 += a0 * b1;
    c10 += a1 * b0;
    c11 += a1 * b1;
    c20 += a2 * b0;
    c21 += a2 * b1;
    c30 += a3 * b0;
    c31 += a3 * b1;
    ap += kMr;
    bp += kNr;
  }
  store4(acc + 0, c00);
  store4(acc + 4, c01);
  store4(acc + 8, c10);
  store4(acc + 12, c11);
  store4(acc + 16, c20);
  store4(acc + 20, c21);
  store4(acc + 24, c30);
  store4(acc + 28, c31);
}
#else
void micro_kernel(int64_t kc, const float* ap, const float* bp, float* acc) {
  float c[kMr][kNr] = {};
  for (int64_t p = 0; p < kc; ++p) {
    for (int64_t r = 0; r < kMr; ++r)
      for (int64_t j = 0; j < kNr; ++j)
        c[r][j] += ap[r] * bp[j];
    ap += kMr;
    bp += kNr;
  }
  std::memcpy(acc, c, sizeof c);
}
#endif

// Packs rows [0, kc) x columns [0, nc) of op(B) (starting at row pc, column jc) into panels of kNr
// columns, zero-padding the last panel.
void pack_b(bool trans_b, const float* b, int64_t ldb, int64_t pc, int64_t jc, int64_t kc,
            int64_t nc, float* dst) {
  for (int64_t jr = 0; jr < nc; jr += kNr) {
    const int64_t w = std::min(kNr, nc - jr);
    float* d = dst + jr * kc;
    for (int64_t p = 0; p < kc; ++p) {
      for (int64_t j = 0; j < kNr; ++j) {
        float v = 0.0f;
        if (j < w) {
          const int64_t row = pc + p, col = jc + jr + j;
          v = trans_b ? b[col * ldb + row] : b[row * ldb + col];
        }
        d[p * kNr + j] = v;
      }
    }
  }
}

// Packs rows [ic, ic + mc) x columns [pc, pc + kc) of op(A) into panels of kMr rows.
void pack_a(bool trans_a, const float* a, int64_t lda, int64_t ic, int64_t pc, int64_t mc,
            int64_t kc, float* dst) {
  for (int64_t ir = 0; ir < mc; ir += kMr) {
    const int64_t h = std::min(kMr, mc - ir);
    float* d = dst + ir * kc;
    for (int64_t p = 0; p < kc; ++p) {
      for (int64_t r = 0; r < kMr; ++r) {
        float v = 0.0f;
        if (r < h) {
          const int64_t row = ic + ir + r, col = pc + p;
          v = trans_a ? a[col * lda + row] : a[row * lda + col];
        }
        d[p * kMr + r] = v;
      }
    }
  }
}

} // namespace

void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
              int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (beta != 1.0f) {
    for (int64_t i = 0; i < m; ++i) {
      float* row = c + i * ldc;
      if (beta == 0.0f)
        std::fill(row, row + n, 0.0f);
      else
        for (int64_t j = 0; j < n; ++j)
          row[j] *= beta;
    }
  }
  if (k <= 0 || alpha == 0.0f) return;

  std::vector<float> bpack(static_cast<size_t>(kKc * (kNc + kNr)));
  std::vector<float> apack(static_cast<size_t>(kKc * (kMc + kMr)));
  float acc[kMr * kNr];
  for (int64_t jc = 0; jc < n; jc += kNc) {
    const int64_t nc = std::min(kNc, n - jc);
    for (int64_t pc = 0; pc < k; pc += kKc) {
      const int64_t kc = std::min(kKc, k - pc);
      pack_b(trans_b, b, ldb, pc, jc, kc, nc, bpack.data());
      for (int64_t ic = 0; ic < m; ic += kMc) {
        const int64_t mc = std::min(kMc, m - ic);
        pack_a(trans_a, a, lda, ic, pc, mc, kc, apack.data());
        for (int64_t jr = 0; jr < nc; jr += kNr) {
          const int64_t w = std::min(kNr, nc - jr);
          for (int64_t ir = 0; ir < mc; ir += kMr) {
            const int64_t h = std::min(kMr, mc - ir);
            micro_kernel(kc, apack.data() + ir * kc, bpack.data() + jr * kc, acc);
            for (int64_t r = 0; r < h; ++r) {
              float* crow = c + (ic + ir + r) * ldc + jc + jr;
              for (int64_t j = 0; j < w; ++j)
                crow[j] += alpha * acc[r * kNr + j];
            }
          }
        }
      }
    }
  }
}

} // namespace kernels
} // namespace shrink
