// E2 and E4 side by side: the same scenario on an interpreter of each era, where the
// outcomes differ or where E4 pays for what it fixed (Note [Era E4 in the binding]).
// PyTorch's own tests run in both eras in pytorch_{tensor,storage,gc}_test.cpp; these
// are the scenarios around them: the counts, the E2 bugs gone in E4, the GIL E4 takes,
// lock() from C++, a second interpreter, a teardown.  `del x` is `x.reset()`.
#include <boost/test/unit_test.hpp>

#include <array>
#include <thread>
#include <vector>

#include "revive/binding/tensor_methods.h"
#include "scenario_fixture.h"

using namespace revive;
using namespace revive::interp;
using namespace revive::binding;

namespace {

// One interpreter of each era.
struct BothEras : revive::testing::LeakCheck {
  Interpreter::Owner E2 = Interpreter::create("E2");
  Interpreter::Owner E4 = Interpreter::create("E4", Era::E4);
};

std::int64_t int_attr(Interpreter& I, const Ref& o, const char* name) {
  return std::get<std::int64_t>(I.getattr(o, name));
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(e2_vs_e4, BothEras, *utf::label("e2") *utf::label("e4"))

// test_as_subclass's bad class: a RuntimeError in E2, a TypeError in E4.
BOOST_AUTO_TEST_CASE(test_as_subclass_error_kind) {
  for (Interpreter* I : {E2.get(), E4.get()}) {
    const PyType* plain = I->new_class("Plain", I->object_type());
    const Tensor t = Tensor::empty(2);
    bool type_error = false, runtime_error = false;
    try {
      (void)I->make_subclass(plain, t);
    } catch (const PythonError& e) {
      type_error = std::string(e.what()).starts_with("TypeError: Creating a Tensor subclass from a class");
    } catch (const Error& e) {
      runtime_error = std::string(e.what()).starts_with("Creating a Tensor subclass from a class");
    }
    BOOST_TEST(type_error == (I->era() == Era::E4), "era " << to_string(I->era()));
    BOOST_TEST(runtime_error == (I->era() == Era::E2), "era " << to_string(I->era()));
  }
}

// test_storage_thread_safety (#167564; PyTorch's test/test_tsan.py): threads asking one
// tensor for its storage at the same moment all get the one wrapper.  They start, then
// meet at the GIL, and go in together.
BOOST_AUTO_TEST_CASE(test_storage_thread_safety, *utf::label("threads")) {
  for (Interpreter* I : {E2.get(), E4.get()}) {
    for (int round = 0; round < 10; ++round) {
      Ref x = I->empty(3);
      const Tensor t = I->unpack(x);
      std::array<Ref, 4> got;
      std::vector<std::thread> threads;
      {
        interp::GilGuard hold(I->gil());
        for (Ref& r : got) threads.emplace_back([I, &r, copy = t] { r = I->wrap(copy.storage()); });
        while (I->gil().waiting() < static_cast<int>(got.size())) std::this_thread::yield();
      }
      for (std::thread& th : threads) th.join();
      const Ref mine = I->wrap(t.storage());
      for (const Ref& r : got) BOOST_TEST(r.get() == mine.get(), "era " << to_string(I->era()));
    }
  }
}

// Its storage twin: THPStorage_NewWithStorage kept its TORCH_CHECK in E4, so a class
// that does not derive from UntypedStorage is a RuntimeError in both eras.
BOOST_AUTO_TEST_CASE(bad_storage_subclass_is_a_runtime_error_in_both_eras) {
  for (Interpreter* I : {E2.get(), E4.get()}) {
    const PyType* plain = I->new_class("Plain", I->object_type());
    BOOST_CHECK_EXCEPTION((void)I->new_storage(2, plain), Error, [](const Error& e) {
      // A PythonError (TypeError) is an Error too, but its text starts with its kind.
      return std::string(e.what()).starts_with("Creating a Storage subclass from a class");
    });
  }
}

// The counts behind preservation in E4: while C++ shares the tensor the wrapper has one more
// reference (C++'s), the slot never owns it, and no resurrection happens.
BOOST_AUTO_TEST_CASE(cpp_holds_a_real_reference_to_the_wrapper_while_it_shares_the_tensor) {
  Interpreter& I = *E4;
  Ref x = I.empty(2);
  Tensor t = I.unpack(x);  // n: 1 -> 2, C++ takes its reference
  BOOST_TEST(t.use_count() == 2u);
  BOOST_TEST(I.refcnt(x.get()) == 2);
  BOOST_TEST(t.unsafeGetTensorImpl()->has_pyobject());
  const std::uint64_t id = x->id;
  x.reset();  // Python lets go: the wrapper lives on, held by C++
  Ref again = I.wrap(t);
  BOOST_TEST(again->id == id);
  BOOST_TEST(!t.unsafeGetTensorImpl()->pyobj_slot()->owns_pyobj());
  BOOST_TEST(I.refcnt(again.get()) == 2);
  t.reset();  // n: 2 -> 1, C++ gives its reference back
  BOOST_TEST(I.refcnt(again.get()) == 1);
  BOOST_TEST(I.unpack(again).use_count() == 2u);  // the wrapper's and this one's
}

// #145253 (E2, open for the whole era): a resurrectable wrapper held only by a dead
// cycle has its weakrefs cleared by the collector.  In E4 C++'s reference makes it a
// root: the collection leaves it and its weakrefs alone.
//   c = torch.empty(2); c.foo = 2; z.grad = c; w = weakref.ref(c)
//   A.b = B; B.a = A; B.c = c; del A, B, c; gc.collect()
BOOST_AUTO_TEST_CASE(issue_145253_in_both_eras) {
  for (Interpreter* I : {E2.get(), E4.get()}) {
    I->gc_disable();
    const PyType* node = I->new_class("Node", I->object_type());
    Ref c = I->empty(2);
    I->setattr(c, "foo", std::int64_t{2});
    Ref z = I->empty(2);
    set_grad(*I, z, c);
    Ref w = I->weakref(c);
    Ref a = I->new_object(node);
    Ref b = I->new_object(node);
    I->setattr(a, "b", b);
    I->setattr(b, "a", a);
    I->setattr(b, "c", c);
    a.reset();
    b.reset();
    c.reset();
    (void)I->gc_collect();
    Ref g = grad(*I, z);
    BOOST_TEST(int_attr(*I, g, "foo") == 2);  // both eras keep the attribute
    const bool weakref_cleared = I->deref(w).is_none();
    BOOST_TEST(weakref_cleared == (I->era() == Era::E2), "era " << to_string(I->era()));
  }
}

// Note [A finalizer that keeps a dying zombie] (E2): a zombie's __del__ runs only when
// C++ lets go (T6), and if it stores `self`, the wrapper outlives its tensor, stubbed.
// In E4 __del__ runs when the wrapper dies, which it does only as the tensor's last
// owner: storing `self` keeps both, fully usable.
BOOST_AUTO_TEST_CASE(a_finalizer_that_keeps_its_wrapper) {
  for (Interpreter* I : {E2.get(), E4.get()}) {
    const PyType* keeper = I->new_class(
        "Keeper", I->tensor_type(), ClassSpec{std::nullopt, [](Runtime& interp, const Ref& self) {
          interp.set_global("saved", self);
        }});
    Ref y = I->empty(2);
    Ref x = I->empty(2, keeper);
    set_grad(*I, y, x);
    x.reset();               // E2: a zombie; E4: alive, held by C++
    set_grad(*I, y, Ref());  // C++ lets go: the wrapper dies, __del__ keeps it
    Ref saved = std::get<Ref>(I->get_global("saved"));
    const bool usable = I->unpack(saved).defined();
    BOOST_TEST(usable == (I->era() == Era::E4), "era " << to_string(I->era()));
    if (usable) BOOST_TEST(!sigmoid(*I, saved).is_none());
    saved.reset();
    I->del_global("saved");
  }
}

// The collector's order (Note [Cycle collection and preservation], E2): garbage older
// than the preserved wrapper is cleared first, drops it, the wrapper is resurrected
// while still in the unreachable list, then cleared as a zombie: it comes back without
// its attributes.  In E4 C++'s reference makes the wrapper a root: never in the list.
BOOST_AUTO_TEST_CASE(garbage_older_than_the_wrapper_holds_it) {
  for (Interpreter* I : {E2.get(), E4.get()}) {
    I->gc_disable();
    Ref l = I->new_object(I->new_class("list", I->object_type()));  // older than t
    I->setattr(l, "self", l);
    Ref t = I->empty(2);
    I->setattr(t, "foo", std::int64_t{2});
    const std::uint64_t original = t->id;
    Ref t2 = I->empty(2);
    set_grad(*I, t2, t);
    I->setattr(l, "t", t);
    t.reset();
    l.reset();
    BOOST_TEST(I->gc_collect() == (I->era() == Era::E2 ? 2u : 1u));
    Ref g = grad(*I, t2);
    BOOST_TEST(g->id == original);
    BOOST_TEST(I->hasattr(g, "foo") == (I->era() == Era::E4), "era " << to_string(I->era()));
  }
}

// What E4 costs instead: every 1 <-> 2 of a target with a wrapper takes the GIL; a
// copy of a tensor C++ already shares (2 -> 3 -> 2) takes none.
BOOST_AUTO_TEST_CASE(e4_takes_the_gil_on_every_share_and_unshare) {
  for (Interpreter* I : {E2.get(), E4.get()}) {
    Ref x = I->empty(2);
    std::int64_t before = I->gil_entries_from_cpp();
    for (int i = 0; i < 1000; ++i) {
      Tensor shared = I->unpack(x);  // 1 -> 2, then 2 -> 1
    }
    BOOST_TEST(I->gil_entries_from_cpp() - before == (I->era() == Era::E4 ? 2000 : 0),
               "era " << to_string(I->era()));
    const Tensor held = I->unpack(x);  // n == 2 from now on
    before = I->gil_entries_from_cpp();
    for (int i = 0; i < 1000; ++i) {
      Tensor copy = held;  // 2 -> 3 -> 2
    }
    BOOST_TEST(I->gil_entries_from_cpp() == before);
  }
}

// weak_intrusive_ptr::lock() at n == 1: the wrapper is the only owner.  A live wrapper
// gives C++ its reference; once its dealloc has begun, lock() fails.
BOOST_AUTO_TEST_CASE(lock_from_cpp_when_the_wrapper_is_the_only_owner) {
  Interpreter& I = *E4;
  Ref x = I.empty(2);
  weak_intrusive_ptr<TensorImpl> weak;
  {
    const Tensor t = I.unpack(x);
    weak = weak_intrusive_ptr<TensorImpl>(t.getIntrusivePtr());
  }  // n == 1: only x's cdata
  {
    auto locked = weak.lock();
    BOOST_REQUIRE(locked);
    BOOST_TEST(locked->refcount() == 2u);
    BOOST_TEST(I.refcnt(x.get()) == 2);
  }
  BOOST_TEST(I.refcnt(x.get()) == 1);
  // Once the dealloc has begun (refcount 0), C++ must not revive the wrapper: a weakref
  // callback runs in the dealloc, after the weakrefs are cleared, and lock() fails there.
  bool locked_in_callback = true;
  Ref w = I.weakref(x, [&](Runtime&, const Ref&) { locked_in_callback = static_cast<bool>(weak.lock()); });
  x.reset();
  BOOST_TEST(!locked_in_callback);
  BOOST_TEST(!weak.lock());
}

// A finalizer is different: CPython runs __del__ with the refcount back at 1 (PEP 442),
// so C++ locking the tensor there revives the wrapper, as storing `self` would.  In E4
// that is an ordinary resurrection by the finalizer: the wrapper lives on, held by C++.
BOOST_AUTO_TEST_CASE(lock_from_a_finalizer_revives_the_wrapper) {
  Interpreter& I = *E4;
  weak_intrusive_ptr<TensorImpl> weak;
  Tensor revived;
  const PyType* fin = I.new_class("Fin", I.tensor_type(), ClassSpec{std::nullopt, [&](Runtime&, const Ref&) {
                                    if (auto p = weak.lock()) revived = Tensor(std::move(p));
                                  }});
  Ref f = I.empty(2, fin);
  I.setattr(f, "foo", std::int64_t{7});
  const std::uint64_t id = f->id;
  {
    const Tensor t = I.unpack(f);
    weak = weak_intrusive_ptr<TensorImpl>(t.getIntrusivePtr());
  }
  f.reset();
  BOOST_REQUIRE(revived.defined());
  Ref again = I.wrap(revived);
  BOOST_TEST(again->id == id);
  BOOST_TEST(int_attr(I, again, "foo") == 7);
}

// E4 is a single-interpreter design in PyTorch.  Here an E4 interpreter still tags
// what it wraps: another interpreter is refused as in E2, and nothing changes.
BOOST_AUTO_TEST_CASE(a_second_interpreter_is_refused_an_e4_tensor) {
  Ref x = E4->empty(2);
  const Tensor t = E4->unpack(x);
  BOOST_CHECK_EXCEPTION((void)E2->wrap(t), Error,
                        [](const Error& e) {
                          return std::string(e.what()).find("cannot access PyObject for Tensor on interpreter E2") !=
                                 std::string::npos;
                        });
  BOOST_TEST(E4->refcnt(x.get()) == 2);  // Python's and C++'s: untouched
  BOOST_TEST(t.use_count() == 2u);
}

// An E4 interpreter torn down while C++ still shares a tensor: the vtable is disarmed,
// and C++'s later shares and releases reach nothing.
BOOST_AUTO_TEST_CASE(an_e4_interpreter_torn_down_under_a_shared_tensor) {
  (void)interp::Runtime::reclaim_dead_interpreters();
  const std::size_t dead_before = interp::Runtime::dead_interpreter_count();
  Tensor t;
  {
    Interpreter::Owner I = Interpreter::create("E4-short", Era::E4);
    Ref x = I->empty(2);
    t = I->unpack(x);
  }  // teardown: x abandoned, C++ still holds t
  Tensor more = t;  // 2 -> 3
  more.reset();
  t.reset();  // 2 -> 1: through the disarmed vtable, which reaches nothing
  // Nothing outside holds the dead interpreter now: it is reclaimed, its abandoned
  // wrapper with it, and the tensor that wrapper owned.
  (void)interp::Runtime::reclaim_dead_interpreters();
  BOOST_TEST(interp::Runtime::dead_interpreter_count() == dead_before);
}

BOOST_AUTO_TEST_SUITE_END()
