#include "shrink/transforms/builtin.h"

#include "shrink/pass/registry.h"
#include "shrink/transforms/const_fold.h"
#include "shrink/transforms/dce.h"
#include "shrink/transforms/fold_batchnorm.h"
#include "shrink/transforms/fuse.h"
#include "shrink/transforms/infer_shapes.h"
#include "shrink/transforms/remove_identity.h"

namespace shrink {

void register_builtin_passes(PassRegistry& registry) {
  // Calling each file's hook also keeps its object file (and static registration) in the link.
  register_const_fold_pass(registry);
  register_dce_pass(registry);
  register_fold_batchnorm_pass(registry);
  register_fuse_pass(registry);
  register_infer_shapes_pass(registry);
  register_remove_identity_pass(registry);
}

void register_builtin_passes() {
  register_builtin_passes(PassRegistry::global());
}

} // namespace shrink
