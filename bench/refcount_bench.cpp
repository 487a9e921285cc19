// 6. Reference counting: revive::intrusive_ptr (c10's, Note [Two counts and
//    release_resources]) against std::shared_ptr.
//
//   copy + destroy     one atomic increment and one atomic decrement, on one hot object.
//   make + release     allocation and the last release: make_intrusive (one block, the
//                      counts inside the object) against std::make_shared (one block,
//                      object and control block together).
//   from a raw pointer what preservation needs most: a borrowed cdata or a slot's back
//                      pointer becomes an owning reference
//                      (intrusive_ptr::unsafe_reclaim_from_nonowning, a CAS loop on the
//                      object's own count) against shared_from_this() (the object must
//                      carry a weak_ptr to its own control block).
//   E4's bit check     era E4 (Note [The has-PyObject bit]): a type that can have a
//                      wrapper tests bit 63 on every copy and release; with no wrapper
//                      (the bit clear) against the same type not opted in.  PyTorch's
//                      goal for it: at most 10%.
// Both sides use atomic counts: libstdc++'s shared_ptr falls back to plain increments in
// a process that never had a second thread, so the Suite starts one (main.cpp).
// The two payload types are the same size; only the shared_from_this case derives from
// std::enable_shared_from_this, which would make make_shared do more work.
#include <memory>

#include "revive/tensor/intrusive_ptr.h"
#include "suite.h"

namespace revive::bench {

// The same payload as IntrusiveThing, opted in to E4's bit check below.
struct PyObjectCapableThing : intrusive_ptr_target {
  std::int64_t payload = 0;
};

}  // namespace revive::bench

template <>
struct revive::TargetTraits<revive::bench::PyObjectCapableThing> {
  static constexpr bool can_have_pyobject = true;
};

namespace revive::bench {
namespace {

struct SharedFromThisThing : std::enable_shared_from_this<SharedFromThisThing> {
  std::int64_t payload = 0;
};

}  // namespace

void register_refcount(Suite& suite) {
  const std::string section = "6. intrusive_ptr vs std::shared_ptr";

  suite.add("refcount/intrusive_ptr copy + destroy", 1, [](benchmark::State& state) {
    const intrusive_ptr<IntrusiveThing> p = make_intrusive<IntrusiveThing>();
    for (auto _ : state) {
      intrusive_ptr<IntrusiveThing> q(p);
      benchmark::DoNotOptimize(q.get());
    }
    if (p.use_count() != 1) state.SkipWithError("a copy leaked a reference");
  });
  suite.add("refcount/shared_ptr copy + destroy", 1, [](benchmark::State& state) {
    const std::shared_ptr<SharedThing> p = std::make_shared<SharedThing>();
    for (auto _ : state) {
      std::shared_ptr<SharedThing> q(p);
      benchmark::DoNotOptimize(q.get());
    }
    if (p.use_count() != 1) state.SkipWithError("a copy leaked a reference");
  });

  suite.add("refcount/make_intrusive + release", 1, [](benchmark::State& state) {
    for (auto _ : state) {
      intrusive_ptr<IntrusiveThing> p = make_intrusive<IntrusiveThing>();
      benchmark::DoNotOptimize(p.get());
    }
  });
  suite.add("refcount/make_shared + release", 1, [](benchmark::State& state) {
    for (auto _ : state) {
      std::shared_ptr<SharedThing> p = std::make_shared<SharedThing>();
      benchmark::DoNotOptimize(p.get());
    }
  });

  suite.add("refcount/intrusive reclaim from raw + destroy", 1, [](benchmark::State& state) {
    const intrusive_ptr<IntrusiveThing> p = make_intrusive<IntrusiveThing>();
    IntrusiveThing* raw = p.get();
    for (auto _ : state) {
      benchmark::DoNotOptimize(raw);
      intrusive_ptr<IntrusiveThing> q =
          intrusive_ptr<IntrusiveThing>::unsafe_reclaim_from_nonowning(raw);
      benchmark::DoNotOptimize(q.get());
    }
  });
  suite.add("refcount/shared_from_this + destroy", 1, [](benchmark::State& state) {
    const std::shared_ptr<SharedFromThisThing> p = std::make_shared<SharedFromThisThing>();
    SharedFromThisThing* raw = p.get();
    for (auto _ : state) {
      benchmark::DoNotOptimize(raw);
      std::shared_ptr<SharedFromThisThing> q = raw->shared_from_this();
      benchmark::DoNotOptimize(q.get());
    }
  });

  suite.add("refcount/E4 bit check: copy + destroy, no wrapper", 1, [](benchmark::State& state) {
    const intrusive_ptr<PyObjectCapableThing> p = make_intrusive<PyObjectCapableThing>();
    for (auto _ : state) {
      intrusive_ptr<PyObjectCapableThing> q(p);
      benchmark::DoNotOptimize(q.get());
    }
    if (p.use_count() != 1 || p->has_pyobject()) state.SkipWithError("the bit or the count moved");
  });

  suite.compare(section, "copy + destroy, one hot object",
                "refcount/intrusive_ptr copy + destroy", "refcount/shared_ptr copy + destroy");
  // Reads "without / with": 1.0 is free, 0.9 is the 10% PyTorch allows.
  suite.compare(section, "E4: the bit check on copy + destroy (no wrapper)",
                "refcount/E4 bit check: copy + destroy, no wrapper", "refcount/intrusive_ptr copy + destroy", 0.9);
  suite.compare(section, "make + last release",
                "refcount/make_intrusive + release", "refcount/make_shared + release");
  suite.compare(section, "owning reference from a raw pointer + destroy",
                "refcount/intrusive reclaim from raw + destroy",
                "refcount/shared_from_this + destroy");
}

}  // namespace revive::bench
