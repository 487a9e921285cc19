// intrusive_ptr.h: c10's intrusive reference counting, strong and weak.
//
// Defines:
//   intrusive_ptr_target    base class holding the strong and the weak count, in one
//                           64-bit word with era E4's has-PyObject bit.
//   intrusive_ptr<T>        an owning (strong) reference.
//   weak_intrusive_ptr<T>   a weak reference; lock() upgrades it if the object lives.
//   make_intrusive<T>(...)  allocate with strong = 1.
//   TargetTraits<T>         can_have_pyobject: whether T pays for E4's bit check (Note
//                           [The has-PyObject bit]).
//
// Example (compiled in test/tensor/intrusive_ptr_test.cpp):
//   auto p = make_intrusive<Thing>();          // strong 1
//   weak_intrusive_ptr<Thing> w(p);            // weak 2 (1 for the strong refs as a group)
//   p.reset();                                 // strong 0: release_resources() runs now
//   assert(!w.lock());                         // too late to revive it
//                                              // ~w: weak 0, the Thing is deleted
//
// Owns: Note [Two counts and release_resources], Note [Memory ordering of the two counts],
// Note [The has-PyObject bit].
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "revive/pyslot/error.h"

namespace revive {

template <class T>
class intrusive_ptr;
template <class T>
class weak_intrusive_ptr;

// The two counts share one 64-bit word, as c10 has kept them since 2025 (E2's c10 had
// two 32-bit atomics; the rules below did not change):
//   bits 0..31   the strong count n
//   bits 32..62  the weak count w
//   bit 63       kHasPyObject (era E4): See Note [The has-PyObject bit]
namespace detail {
inline constexpr std::uint64_t kReferenceCountOne = 1;
inline constexpr std::uint64_t kWeakReferenceCountOne = std::uint64_t{1} << 32;
inline constexpr std::uint64_t kHasPyObject = std::uint64_t{1} << 63;
inline constexpr std::uint64_t kUniqueRef = kReferenceCountOne | kWeakReferenceCountOne;
constexpr std::uint32_t refcount(std::uint64_t combined) noexcept { return static_cast<std::uint32_t>(combined); }
constexpr std::uint32_t weakcount(std::uint64_t combined) noexcept {
  return static_cast<std::uint32_t>((combined & ~kHasPyObject) >> 32);
}
constexpr bool has_pyobject(std::uint64_t combined) noexcept { return (combined & kHasPyObject) != 0; }
}  // namespace detail

// Whether an intrusive_ptr<T> checks E4's bit on 1 <-> 2 (Note [The has-PyObject bit]).
// Only types that can have a Python wrapper pay for the check; tensor_impl.h and
// storage_impl.h say yes for theirs.
template <class T>
struct TargetTraits {
  static constexpr bool can_have_pyobject = false;
};

// Note [Two counts and release_resources]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Era E2 (c10/util/intrusive_ptr.h).  An object carries a strong count n and a weak
// count w, where w = (number of weak references) + (n > 0 ? 1 : 0).
//   - When n drops to 0 and no weak reference exists (w == 1), the object is deleted
//     at once: its destructor releases everything.
//   - When n drops to 0 while weak references exist, release_resources() runs now
//     (the object gives up what it owns) and the memory is deleted when the last weak
//     reference goes.  What it gives up, and in which order, is each type's choice,
//     and c10's two types differ: TensorImpl drops its autograd metadata (the grad
//     here), then its storage, then its Python wrapper; StorageImpl frees only its
//     bytes, so its wrapper stays (a zombie whose C++ object has n == 0) until the
//     destructor, at the last weak reference.
//   - A count that reached 0 never rises again: lock() refuses, and reclaiming a new
//     strong reference from a raw pointer throws.
// This is why PyObjectSlot::maybe_destroy_pyobj() is idempotent and called from the
// slot's destructor as well as from TensorImpl::release_resources() (StorageImpl's
// leaves it to the destructor): for a tensor, which of the two runs first depends on
// whether a weak reference existed.  We follow c10 exactly
// here (no "always release_resources() first" simplification), so both paths are
// exercised by the tests.
class intrusive_ptr_target {
 public:
  intrusive_ptr_target(const intrusive_ptr_target&) = delete;
  intrusive_ptr_target& operator=(const intrusive_ptr_target&) = delete;

  [[nodiscard]] std::uint32_t refcount() const noexcept {
    return detail::refcount(combined_refcount_.load(std::memory_order_acquire));
  }
  [[nodiscard]] std::uint32_t weakcount() const noexcept {
    return detail::weakcount(combined_refcount_.load(std::memory_order_acquire));
  }
  // Era E4: the target's wrapper follows its strong count (Note [The has-PyObject bit]).
  [[nodiscard]] bool has_pyobject() const noexcept {
    return detail::has_pyobject(combined_refcount_.load(std::memory_order_acquire));
  }

  // Era E4: set the bit for a wrapper the target's slot records now; the two ways c10's
  // PyObjectPreservation does it (Note [The has-PyObject bit]).
  //   set_has_pyobject_fresh()  a target nobody else can reach (n == 1, w == 1): a
  //                             plain store.  Throws if it is shared.
  //   set_has_pyobject()        any target: a CAS loop that ORs the bit in, first
  //                             taking C++'s reference to the wrapper when n > 1, and
  //                             giving it back if n fell to 1 meanwhile.  False if the
  //                             bit was already set (nothing changed).
  void set_has_pyobject_fresh();
  bool set_has_pyobject() noexcept;

 protected:
  intrusive_ptr_target() noexcept = default;
  virtual ~intrusive_ptr_target();

  // Called when the strong count reaches 0 while weak references remain.  Must be
  // safe to follow with the destructor (which runs later, at weak count 0).  A type with
  // a PyObjectSlot decides here whether its wrapper goes now or waits for the
  // destructor (docs/extending.md, a new preserved type).
  virtual void release_resources() {}

  // Era E4's hooks (Note [The has-PyObject bit]), called only once the bit is set, so
  // only a type that sets it overrides them: C++ takes a reference to the wrapper
  // (n: 1 -> 2), lets it go (2 -> 1), or tries to take one from a wrapper that may be
  // dying (lock() at n == 1: false if it is).  The defaults abort.
  virtual void incref_pyobject() const noexcept;
  virtual void decref_pyobject() const noexcept;
  [[nodiscard]] virtual bool try_incref_pyobject() const noexcept;

 private:
  template <class T>
  friend class intrusive_ptr;
  template <class T>
  friend class weak_intrusive_ptr;
  template <class T, class... Args>
  friend intrusive_ptr<T> make_intrusive(Args&&...);

  // Note [Memory ordering of the two counts]
  // ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
  // Era E2 (c10/util/intrusive_ptr.h, as Boost and libstdc++'s shared_ptr do it).  Both
  // counts are written only by intrusive_ptr and weak_intrusive_ptr:
  //   - an increment from a reference the caller already holds is relaxed: it orders
  //     nothing, the count cannot be 0, and nobody can free the object meanwhile;
  //   - every decrement is acq_rel: the release half publishes this owner's writes to
  //     the object (for the slot: the owns bit, written under the GIL by a
  //     resurrection) before it lets go; the acquire half makes the owner whose
  //     decrement reaches 0 see every other owner's writes before it releases
  //     resources or deletes;
  //   - reviving from a raw pointer (lock(), unsafe_reclaim_from_nonowning) is a CAS
  //     loop that never moves 0 to 1 (a count that reached 0 never rises), acq_rel on
  //     success so the new owner sees the object as the last owner left it.  c10's
  //     unsafe_reclaim_from_nonowning is retain_() instead: a plain increment, checked
  //     only in debug builds, that in E4 increfs the wrapper at 1 -> 2 and cannot fail.
  //     revive keeps lock()'s loop there on purpose: a reclaim at 0 is refused with
  //     c10's own text instead of reviving an object being destroyed, and at n == 1
  //     with the has-PyObject bit it takes try_incref's order (it fails while the
  //     wrapper dies, where retain_() would incref a dying wrapper);
  //   - E4's 1 -> 2 with the bit set (incref_strong) reads the slot's wrapper pointer,
  //     which the thread that set the bit wrote first.  c10 puts an acquire fence after
  //     its relaxed increment (incref_pyobject: "intrusive_ptr incref uses relaxed
  //     memory order"); revive reloads the count with acquire, the same ordering in a
  //     form ThreadSanitizer checks (g++ does not support fences under TSan).  No test
  //     here fails without it: with the bit set at n == 1 the one reference is the
  //     wrapper's own cdata, which only a holder of the wrapper's GIL can copy, and the
  //     GIL orders the two threads already.  It is there for what PyTorch wrote it for,
  //     free-threaded Python, where nothing else does;
  //   - the weak count is read with acquire at strong 0, to decide between deleting now
  //     and release_resources (Note [Two counts and release_resources]);
  //   - make_intrusive's stores are relaxed: the object has not escaped this thread.
  // The two counts live in one word (above), so "the weak count at strong 0" is read from
  // the same word the strong decrement wrote; the rules are the ones above.
  //
  // Note [The has-PyObject bit]
  // ~~~~~~~~~~~~~~~~~~~~~~~~~~~
  // Era E4 (PyTorch #167564, November 2025), which replaced resurrection.  Bit 63 says
  // "this target has a Python wrapper, and the wrapper owns one strong reference".
  // While C++ shares the target (n >= 2), C++ holds one real reference to the wrapper,
  // so the wrapper cannot die; when only the wrapper is left (n == 1), it is an ordinary
  // Python object, free to die, and its death drops the last strong reference.
  //   - n: 1 -> 2 with the bit set: incref_pyobject() (the interpreter takes its GIL);
  //     2 -> 1: decref_pyobject().  Both are seen in the word the increment or
  //     decrement returned, so no other count change can slip between the test and it.
  //   - Setting the bit.  A target nobody else can reach is stored to non-atomically
  //     (set_has_pyobject_fresh).  A shared one gets a CAS loop (set_has_pyobject):
  //     when n > 1, C++'s reference to the wrapper is taken *before* the bit is
  //     published (another thread's 2 -> 1 may give it back at once); if the CAS then
  //     finds n == 1 after all, that reference is given back.
  //   - lock() at n == 1 with the bit set: the only owner is the wrapper, which may be
  //     dying in its interpreter right now.  An intermediate revision of c10's
  //     intrusive_ptr.h (007e696, its author's comment naming the race) incremented n and then
  //     increfed the wrapper, which could already be freed; v2.10.0 try-increfs the
  //     wrapper first, under its GIL, and fails the lock() if it is dying.
  //     try_incref() does the fixed order.
  //   - Only types whose TargetTraits say can_have_pyobject test the bit at all: the
  //     price of E4 for every other type is nothing, and for a tensor with no wrapper
  //     one test of a bit in a word already loaded (bench: E4's bit check).
  // E2 never sets the bit, so none of this runs in E2.
  mutable std::atomic<std::uint64_t> combined_refcount_{0};

  // +1 on the strong count from a reference the caller holds (an intrusive_ptr copy);
  // with the bit set, 1 -> 2 takes C++'s reference to the wrapper.
  void incref_strong(bool can_have_pyobject) const noexcept {
    // See Note [Memory ordering of the two counts]: a plain increment.
    const std::uint64_t now =
        combined_refcount_.fetch_add(detail::kReferenceCountOne, std::memory_order_relaxed) +
        detail::kReferenceCountOne;
    if (can_have_pyobject && detail::has_pyobject(now) && detail::refcount(now) == 2) {
      // See Note [Memory ordering of the two counts]: see the wrapper pointer the bit's
      // setter wrote (c10: an acquire fence).
      (void)combined_refcount_.load(std::memory_order_acquire);
      incref_pyobject();
    }
  }
  // +1 on the strong count unless it already reached 0 (lock(), reclaiming a borrowed
  // pointer).  Returns success.  See Note [The has-PyObject bit] for n == 1 with the bit.
  bool try_incref(bool can_have_pyobject) const noexcept;
  // Drop one strong reference; with the bit set, 2 -> 1 gives the wrapper back; at 0,
  // release_resources and delete as c10 does.
  // See Note [Releasing a long chain in bounded stack] (intrusive_ptr.cpp).
  void decref_strong(bool can_have_pyobject) noexcept;
  // At n == 0: release_resources() or delete, as the weak count says.
  void finish_release() noexcept;
  void incref_weak() const noexcept {
    combined_refcount_.fetch_add(detail::kWeakReferenceCountOne, std::memory_order_relaxed);
  }
  void decref_weak() noexcept {
    // See Note [Memory ordering of the two counts].
    if (detail::weakcount(combined_refcount_.fetch_sub(detail::kWeakReferenceCountOne,
                                                       std::memory_order_acq_rel)) == 1) {
      delete this;
    }
  }
};

struct dont_incref_t {
  explicit dont_incref_t() = default;
};
// Tag for "the pointer already carries the +1 this intrusive_ptr takes over" (adopt).
inline constexpr dont_incref_t dont_incref{};

template <class T>
class intrusive_ptr {
 public:
  intrusive_ptr() noexcept = default;
  intrusive_ptr(std::nullptr_t) noexcept {}  // NOLINT: implicit, like a raw pointer

  intrusive_ptr(const intrusive_ptr& o) noexcept : target_(o.target_) {
    // We hold a reference through `o`, so the count cannot be 0: a plain increment.
    // See Note [Memory ordering of the two counts].
    if (target_ != nullptr) target_->incref_strong(TargetTraits<T>::can_have_pyobject);
  }
  intrusive_ptr(intrusive_ptr&& o) noexcept : target_(std::exchange(o.target_, nullptr)) {}
  template <class U>
    requires std::is_convertible_v<U*, T*>
  intrusive_ptr(intrusive_ptr<U>&& o) noexcept  // NOLINT: upcast like a raw pointer
      : target_(o.release()) {}

  intrusive_ptr& operator=(intrusive_ptr o) noexcept {
    std::swap(target_, o.target_);
    return *this;
  }
  ~intrusive_ptr() { reset(); }

  void reset() noexcept {
    if (T* t = std::exchange(target_, nullptr)) t->decref_strong(TargetTraits<T>::can_have_pyobject);
  }

  [[nodiscard]] T* get() const noexcept { return target_; }
  T* operator->() const noexcept { return target_; }
  T& operator*() const noexcept { return *target_; }
  explicit operator bool() const noexcept { return target_ != nullptr; }
  [[nodiscard]] bool defined() const noexcept { return target_ != nullptr; }

  // The strong count (0 for a null pointer).
  [[nodiscard]] std::uint32_t use_count() const noexcept {
    return target_ == nullptr ? 0 : target_->refcount();
  }

  // Hand the owned reference out as a raw pointer; reclaim() takes it back.
  [[nodiscard]] T* release() noexcept { return std::exchange(target_, nullptr); }
  [[nodiscard]] static intrusive_ptr reclaim(T* owning) noexcept {
    return intrusive_ptr(owning, dont_incref);
  }

  // A new strong reference from a pointer that does not own one (a borrowed cdata,
  // a slot's back pointer).  unsafe_: the caller proves the memory is still
  // allocated.  Throws if the strong count already reached zero: the object is being
  // destroyed and may not be revived (Note [Two counts and release_resources]).
  [[nodiscard]] static intrusive_ptr unsafe_reclaim_from_nonowning(T* raw) {
    if (raw == nullptr) return {};
    REVIVE_CHECK(raw->try_incref(TargetTraits<T>::can_have_pyobject),
                 "intrusive_ptr: Cannot increase refcount after it reached zero.");
    return intrusive_ptr(raw, dont_incref);
  }

  intrusive_ptr(T* owning, dont_incref_t) noexcept : target_(owning) {}

  friend bool operator==(const intrusive_ptr& a, const intrusive_ptr& b) noexcept {
    return a.target_ == b.target_;
  }

 private:
  T* target_ = nullptr;  // owns one strong reference, or null
};

template <class T, class... Args>
[[nodiscard]] intrusive_ptr<T> make_intrusive(Args&&... args) {
  T* t = new T(std::forward<Args>(args)...);
  // Born with strong 1 and weak 1 (the strong references' share); adopted below.
  // Relaxed: See Note [Memory ordering of the two counts].
  t->combined_refcount_.store(detail::kUniqueRef, std::memory_order_relaxed);
  return intrusive_ptr<T>(t, dont_incref);
}

template <class T>
class weak_intrusive_ptr {
 public:
  weak_intrusive_ptr() noexcept = default;
  // Increments from a held reference: See Note [Memory ordering of the two counts].
  explicit weak_intrusive_ptr(const intrusive_ptr<T>& p) noexcept : target_(p.get()) {
    if (target_ != nullptr) target_->incref_weak();
  }
  weak_intrusive_ptr(const weak_intrusive_ptr& o) noexcept : target_(o.target_) {
    if (target_ != nullptr) target_->incref_weak();
  }
  weak_intrusive_ptr(weak_intrusive_ptr&& o) noexcept
      : target_(std::exchange(o.target_, nullptr)) {}
  weak_intrusive_ptr& operator=(weak_intrusive_ptr o) noexcept {
    std::swap(target_, o.target_);
    return *this;
  }
  ~weak_intrusive_ptr() { reset(); }

  void reset() noexcept {
    if (T* t = std::exchange(target_, nullptr)) t->decref_weak();
  }

  // A strong reference if the object is still alive (strong count > 0), else null; in
  // E4, also null when its only owner is a wrapper that is being freed.
  [[nodiscard]] intrusive_ptr<T> lock() const noexcept {
    if (target_ == nullptr || !target_->try_incref(TargetTraits<T>::can_have_pyobject)) return {};
    return intrusive_ptr<T>(target_, dont_incref);
  }
  [[nodiscard]] bool expired() const noexcept {
    return target_ == nullptr || target_->refcount() == 0;
  }
  [[nodiscard]] std::uint32_t use_count() const noexcept {
    return target_ == nullptr ? 0 : target_->refcount();
  }
  // The pointer, whether the object lives or not: only for a reader that knows it does
  // and that nothing releases it meanwhile (the tour's pictures).
  [[nodiscard]] T* unsafe_get() const noexcept { return target_; }

 private:
  T* target_ = nullptr;  // owns one weak reference, or null
};

}  // namespace revive
