#include "shrink/compress/register.h"

#include "shrink/compress/distill.h"
#include "shrink/compress/equalize.h"
#include "shrink/compress/lowrank.h"
#include "shrink/compress/prune.h"
#include "shrink/compress/quantize.h"
#include "shrink/compress/sensitivity.h"
#include "shrink/compress/smooth_quant.h"
#include "shrink/pass/registry.h"

namespace shrink {

void register_compress_passes(PassRegistry& registry) {
  // Calling each file's hook also keeps its object file (and static registration) in the link.
  register_distill_pass(registry);
  register_equalize_pass(registry);
  register_lowrank_pass(registry);
  register_prune_channels_pass(registry);
  register_prune_heads_pass(registry);
  register_quantize_pass(registry);
  register_analyze_sensitivity_pass(registry);
  register_smooth_quant_pass(registry);
}

} // namespace shrink
