#include "shrink/compress/register.h"

#include "shrink/compress/lowrank.h"
#include "shrink/compress/prune.h"
#include "shrink/pass/registry.h"

namespace shrink {

void register_compress_passes(PassRegistry& registry) {
  // Calling each file's hook also keeps its object file (and static registration) in the link.
  register_lowrank_pass(registry);
  register_prune_channels_pass(registry);
  register_prune_heads_pass(registry);
}

} // namespace shrink
