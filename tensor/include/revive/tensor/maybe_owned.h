// maybe_owned.h: a wrapper's reference to its C++ object, owned or borrowed.
//
// Defines: MaybeOwned<H> for H = Tensor or Storage (c10::MaybeOwned).
//
// A Python wrapper's `cdata` is owned while Python owns the C++ object (state L) and
// borrowed while the C++ object owns the wrapper (state Z): see
// Note [PyObject preservation].  A borrowed cdata counts nothing, so releasing it
// touches no count; turning it into an owning handle re-checks that the object is
// still alive.
//
// Example (compiled in test/tensor/maybe_owned_test.cpp):
//   Tensor t = Tensor::empty(1);
//   auto b = MaybeOwned<Tensor>::borrowed(t.unsafeGetTensorImpl());
//   assert(t.use_count() == 1 && b.unsafeIsBorrowed());
//   Tensor again = b.to_owned();  // use_count 2
#pragma once

#include <utility>

#include "revive/pyslot/error.h"

namespace revive {

template <class H>
class MaybeOwned {
 public:
  using Impl = typename H::impl_type;

  // An owned, undefined handle: what a stubbed wrapper holds (T6 with the weakref hole).
  MaybeOwned() noexcept = default;

  // Adopt the caller's handle (counts 1 in the strong count).
  [[nodiscard]] static MaybeOwned owned(H h) noexcept {
    MaybeOwned m;
    m.owned_ = std::move(h);
    return m;
  }
  // Borrow: no count change.  The caller proves `raw` outlives this MaybeOwned.
  [[nodiscard]] static MaybeOwned borrowed(Impl* raw) noexcept {
    MaybeOwned m;
    m.borrowed_ = raw;
    m.is_borrowed_ = true;
    return m;
  }

  MaybeOwned(MaybeOwned&& o) noexcept
      : owned_(std::move(o.owned_)), borrowed_(o.borrowed_), is_borrowed_(o.is_borrowed_) {
    o.borrowed_ = nullptr;
    o.is_borrowed_ = false;
  }
  MaybeOwned& operator=(MaybeOwned&& o) noexcept {
    MaybeOwned tmp(std::move(o));
    std::swap(owned_, tmp.owned_);
    std::swap(borrowed_, tmp.borrowed_);
    std::swap(is_borrowed_, tmp.is_borrowed_);
    return *this;  // tmp (our old value) is released here, after we changed
  }
  MaybeOwned(const MaybeOwned&) = delete;
  MaybeOwned& operator=(const MaybeOwned&) = delete;

  [[nodiscard]] bool unsafeIsBorrowed() const noexcept { return is_borrowed_; }
  [[nodiscard]] Impl* get() const noexcept {
    return is_borrowed_ ? borrowed_ : owned_.getIntrusivePtr().get();
  }
  [[nodiscard]] bool defined() const noexcept { return get() != nullptr; }

  // A new owning handle to the object: a copy when owned; when borrowed, a checked
  // increment that throws if the object is already being destroyed.
  [[nodiscard]] H to_owned() const {
    return is_borrowed_ ? H::unsafe_reclaim_from_nonowning(borrowed_) : owned_;
  }

  // The owned handle itself, for a caller that only reads through it while this
  // MaybeOwned stays as it is (THPVariable_Unpack's reference).  Requires !unsafeIsBorrowed().
  [[nodiscard]] const H& owned_ref() const noexcept {
    REVIVE_INTERNAL_ASSERT(!is_borrowed_, "owned_ref() on a borrowed cdata: it owns nothing");
    return owned_;
  }

  // Move the owned handle out, leaving this undefined.  Requires !unsafeIsBorrowed().
  [[nodiscard]] H take_owned() noexcept {
    REVIVE_INTERNAL_ASSERT(!is_borrowed_, "take_owned() on a borrowed cdata: it owns nothing");
    return std::move(owned_);
  }

 private:
  H owned_;                   // the owned handle (undefined when borrowed)
  Impl* borrowed_ = nullptr;  // the borrowed pointer (counts nothing)
  bool is_borrowed_ = false;
};

}  // namespace revive
