#include "revive/tensor/intrusive_ptr.h"

#include "revive/tensor/death_watch.h"

namespace revive {

intrusive_ptr_target::~intrusive_ptr_target() {
  // A destructor reached with strong references left means someone deleted the object
  // by hand, or a count was corrupted: either way, every intrusive_ptr to it dangles.
  REVIVE_INTERNAL_ASSERT(refcount_.load(std::memory_order_relaxed) == 0,
                         "an intrusive_ptr_target was destroyed while strong references "
                         "to it still existed");
  DeathWatch::on_destroy(this);
}

void intrusive_ptr_target::decref_strong() noexcept {
  // acq_rel: the last decrement must see every write other owners made before they
  // let go.  See Note [Memory ordering of the two counts].
  if (refcount_.fetch_sub(1, std::memory_order_acq_rel) != 1) {
    return;
  }
  // See Note [Two counts and release_resources].
  bool should_delete = weakcount_.load(std::memory_order_acquire) == 1;
  if (!should_delete) {
    release_resources();
    should_delete = weakcount_.fetch_sub(1, std::memory_order_acq_rel) == 1;
  }
  if (should_delete) {
    delete this;
  }
}

}  // namespace revive
