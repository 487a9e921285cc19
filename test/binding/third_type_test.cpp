// A third preserved type, added from a test: a Generator (like torch.Generator) whose
// C++ object embeds a PyObjectSlot.  It follows docs/extending.md's checklist for a new
// type, touching two files (this one and test/CMakeLists.txt) and no library file, and
// then runs the lifecycle of docs/lifecycle.md: wrap (T1, T2), resurrection (T3), the
// flip back (T5), C++ letting go of a zombie (T6), the collector (T7), the weakref hole
// (T8), teardown (T9), hermetic mode (T10) and another interpreter's refusal (T11),
// with the leak check, the state reading and the pictures working for it unchanged;
// and the same type in era E4.
#include <boost/test/unit_test.hpp>

#include "revive/binding/python_variable.h"
#include "revive/pictures/diagram.h"
#include "revive/pictures/inspect.h"
#include "revive/pyslot/hermetic_tls.h"
#include "revive/tensor/intrusive_ptr.h"
#include "revive/tensor/live_count.h"
#include "revive_test.h"
#include "tracker.h"

using namespace revive;
using namespace revive::interp;
using namespace revive::binding;
using namespace revive::pictures;
using namespace revive::trace;
using revive::testing::message_has;
using revive::testing::message_is;

namespace {

// Step 1 of the checklist: the C++ type, with a slot, a LiveCount and
// release_resources() giving the wrapper back (Note [Two counts and release_resources]).
class GeneratorImpl final : public intrusive_ptr_target {
 public:
  static constexpr std::string_view kTypeName = "GeneratorImpl";
  static constexpr std::string_view kHeldBy = "Generator handles";

  GeneratorImpl() : id_(next_id_++) { live().increment(); }
  ~GeneratorImpl() override { live().decrement(); }

  [[nodiscard]] impl::PyObjectSlot* pyobj_slot() noexcept { return &pyobj_slot_; }
  [[nodiscard]] const impl::PyObjectSlot* pyobj_slot() const noexcept { return &pyobj_slot_; }
  [[nodiscard]] std::uint64_t id() const noexcept { return id_; }
  static std::int64_t live_count() noexcept { return live().get(); }

 protected:
  void release_resources() override { pyobj_slot_.maybe_destroy_pyobj(); }
  // E4's three hooks: what the count crossing 1 <-> 2, and lock() at n == 1, do to the
  // wrapper, forwarded to the slot as TensorImpl does (Note [The has-PyObject bit]).
  void incref_pyobject() const noexcept override { pyobj_slot_.incref_pyobj(); }
  void decref_pyobject() const noexcept override { pyobj_slot_.decref_pyobj(); }
  [[nodiscard]] bool try_incref_pyobject() const noexcept override { return pyobj_slot_.try_incref_pyobj(); }

 private:
  static LiveCount& live() {
    static LiveCount& count = *new LiveCount(kTypeName);  // never destroyed: live_count.h
    return count;
  }
  static inline std::uint64_t next_id_ = 1;
  std::uint64_t id_;
  impl::PyObjectSlot pyobj_slot_;  // declared last: destroyed first
};

}  // namespace

// Still step 1: its handles test E4's has-PyObject bit on 1 <-> 2 (Note [The has-PyObject
// bit]).  Declared before any handle is used; PreservedHandle refuses a type without it.
template <>
struct revive::TargetTraits<GeneratorImpl> {
  static constexpr bool can_have_pyobject = true;
};

namespace {

// Step 2: the owning handle (what MaybeOwned and the protocol need of it).
class Generator {
 public:
  using impl_type = GeneratorImpl;
  Generator() noexcept = default;
  explicit Generator(intrusive_ptr<GeneratorImpl> impl) noexcept : impl_(std::move(impl)) {}
  [[nodiscard]] static Generator create() { return Generator(make_intrusive<GeneratorImpl>()); }
  [[nodiscard]] static Generator unsafe_reclaim_from_nonowning(GeneratorImpl* raw) {
    return Generator(intrusive_ptr<GeneratorImpl>::unsafe_reclaim_from_nonowning(raw));
  }
  [[nodiscard]] bool defined() const noexcept { return impl_.defined(); }
  [[nodiscard]] std::uint32_t use_count() const noexcept { return impl_.use_count(); }
  [[nodiscard]] const intrusive_ptr<GeneratorImpl>& getIntrusivePtr() const noexcept { return impl_; }
  void reset() noexcept { impl_.reset(); }

 private:
  intrusive_ptr<GeneratorImpl> impl_;
};

}  // namespace

// Step 3: describe it once.
template <>
struct revive::binding::Preserved<Generator> {
  static constexpr const char* python_name = "Generator";
  static constexpr const char* base_name = "GeneratorBase";
  static constexpr const char* error_name = "Generator";
  static constexpr const char* noun = "generator";
  static constexpr HermeticRule hermetic = HermeticRule::FollowsThread;
  static constexpr ForeignRule foreign = ForeignRule::Refuse;
  static constexpr bool python_dispatch = false;
  static constexpr bool release_gil_on_drop = true;
  static constexpr const char* weakref_hole_warning =
      "Deallocating Generator that still has live PyObject references.";
  static constexpr const char* subclass_error =
      "Creating a Generator subclass from a class that does not inherit from Generator is not "
      "possible.";
  static constexpr const char* wrong_kind_error = "Expected a generator type, but got ";
};
static_assert(PreservedHandle<Generator>);
static_assert(PreservedTarget<GeneratorImpl>);

namespace {

// Step 4: register it in each interpreter (module init).
struct Fixture : revive::testing::LeakCheck {
  EventLog log;
  Interpreter::Owner I = Interpreter::create("I0");
  const PyType* generator_type = I->add_preserved_type<Generator>();
  Fixture() { I->set_observer(&log); }
  ~Fixture() { I->set_observer(nullptr); }
  Snapshot at(const Generator& g) { return inspect(*I, g.getIntrusivePtr().get()); }
  std::int64_t foo(const Ref& o) { return std::get<std::int64_t>(I->getattr(o, "foo")); }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(third_preserved_type, Fixture, *utf::label("extending") *utf::label("lifecycle"))

// T1, T2: the first wrap tags the slot and records an owning wrapper; the next returns it.
BOOST_AUTO_TEST_CASE(wrap_tags_records_and_rewraps) {
  Generator g = Generator::create();
  BOOST_TEST(at(g).state == SlotState::U);
  Ref p = I->wrap(g);
  BOOST_TEST(I->type_of(p) == generator_type);
  BOOST_TEST(I->type_of(p)->name == "Generator");
  Snapshot s = at(g);
  BOOST_TEST(s.state == SlotState::L);
  BOOST_TEST(s.strong == 2u);
  BOOST_TEST(s.cdata == CdataKind::Owned);
  BOOST_TEST(s.recorded == p.get());
  Ref q = I->wrap(g);
  BOOST_TEST(q == p);
  BOOST_TEST(at(g).refcnt == 2);
  BOOST_TEST((log.kinds() == std::vector{EventKind::Tagged, EventKind::NewWrapper, EventKind::Rewrapped}));
  BOOST_TEST(I->unpack_as<Generator>(p).getIntrusivePtr().get() == g.getIntrusivePtr().get());
}

// T3, T5: dropped while C++ holds it, the wrapper is resurrected with its __dict__; the
// next wrap flips it back, the same object.
BOOST_AUTO_TEST_CASE(resurrection_and_flip_back) {
  Generator g = Generator::create();
  Ref p = I->wrap(g);
  I->setattr(p, "foo", std::int64_t{7});
  const PyObject* first = p.get();
  p.reset();
  Snapshot z = at(g);
  BOOST_TEST(z.state == SlotState::Z);
  BOOST_TEST(z.strong == 1u);
  BOOST_TEST(z.refcnt == 1);
  BOOST_TEST(z.cdata == CdataKind::Borrowed);
  Ref again = I->wrap(g);
  BOOST_TEST(again.get() == first);
  BOOST_TEST(foo(again) == 7);
  BOOST_TEST(at(g).state == SlotState::L);
}

// T6: C++ letting go of a zombie frees the wrapper, finalized once; the C++ object dies.
BOOST_AUTO_TEST_CASE(cpp_drops_the_zombie) {
  int runs = 0;
  const PyType* fin = I->new_class("FinGenerator", generator_type,
                                   ClassSpec{std::nullopt, [&runs](Runtime&, const Ref&) { ++runs; }});
  Generator g = Generator::create();
  { Ref p = I->new_with_var(fin, g); }
  BOOST_TEST(at(g).state == SlotState::Z);
  BOOST_TEST(runs == 0);
  const auto live = GeneratorImpl::live_count();
  g.reset();
  BOOST_TEST(runs == 1);
  BOOST_TEST(GeneratorImpl::live_count() == live - 1);
  BOOST_TEST(I->live_objects() == 0u);
}

// T8: a weakref deref revives the zombie without a flip; C++ letting go then stubs it,
// with the type's own warning; _fix_weakref closes the hole.
BOOST_AUTO_TEST_CASE(weakref_hole_and_fix_weakref, *utf::label("weakref-hole")) {
  Generator g = Generator::create();
  Ref w;
  { Ref p = I->wrap(g); w = I->weakref(p); }
  Ref revived = I->deref(w);  // r = 2, owns = 1, cdata borrowed
  BOOST_TEST(at(g).refcnt == 2);
  BOOST_TEST(at(g).owns);
  g.reset();
  BOOST_TEST((I->warnings() == std::vector<std::string>{"Deallocating Generator that still has live PyObject references."}));
  BOOST_TEST(!I->unpack_as<Generator>(revived).defined());
  revived.reset();
  I->clear_warnings();

  Generator h = Generator::create();
  { Ref p = I->wrap(h); w = I->weakref(p); }
  Ref fixed = I->deref(w);
  I->fix_weakref(fixed);  // flips back: the wrapper owns h again
  BOOST_TEST(at(h).state == SlotState::L);
  BOOST_TEST(!at(h).owns);
  h.reset();
  BOOST_TEST(I->warnings().empty());
  BOOST_TEST(I->unpack_as<Generator>(fixed).defined());
}

// T7: a resurrectable wrapper hides its cycle from the collector; once C++ lets go, the
// cycle is ordinary garbage.
BOOST_AUTO_TEST_CASE(the_collector_sees_c_plus_plus_as_a_root, *utf::label("gc")) {
  GcDisabled manual(*I);
  Generator g = Generator::create();
  {
    Ref p = I->wrap(g);
    I->setattr(p, "self", p);
  }
  BOOST_TEST(I->gc_collect() == 0u);
  BOOST_TEST(at(g).state == SlotState::L);
  g.reset();
  BOOST_TEST(I->gc_collect() == 1u);
  BOOST_TEST(I->live_objects() == 0u);
}

// T10: in hermetic mode the wrap makes a wrapper the slot never records, which dies for
// real; T11: another interpreter is refused with PyTorch's text.
BOOST_AUTO_TEST_CASE(hermetic_and_another_interpreter, *utf::label("hermetic") *utf::label("interpreter-tag")) {
  Generator g = Generator::create();
  {
    impl::EnableHermeticPyObject hermetic;
    Ref h = I->wrap(g);
    BOOST_TEST(at(g).state == SlotState::U);
  }
  BOOST_TEST(I->live_objects() == 0u);
  Ref p = I->wrap(g);
  auto J = Interpreter::create("J");
  J->add_preserved_type<Generator>();
  BOOST_CHECK_EXCEPTION((void)J->wrap(g), Error,
                        message_has("cannot access PyObject for Tensor on interpreter J"));
  BOOST_TEST(inspect(*J, g.getIntrusivePtr().get()).state == SlotState::X);
}

// T9: teardown disarms the interpreter; the zombie is abandoned, and C++ letting go of
// its generator afterwards runs nothing.
BOOST_AUTO_TEST_CASE(teardown_abandons_the_zombie, *utf::label("disarm")) {
  auto J = Interpreter::create("J");
  J->add_preserved_type<Generator>();
  Generator g = Generator::create();
  { Ref p = J->wrap(g); }
  const auto abandoned = Interpreter::abandoned_object_count();
  J.reset();
  BOOST_TEST(Interpreter::abandoned_object_count() == abandoned + 1);
  g.reset();  // through the disarmed vtable: nothing runs
  BOOST_TEST(GeneratorImpl::live_count() == 0);
}

// The checks a user meets: the type check names the type, a class that is not a
// Generator subclass is refused, and a second registration is an error.
BOOST_AUTO_TEST_CASE(type_checks_name_the_type, *utf::label("errors")) {
  Ref t = I->empty(2);
  BOOST_CHECK_EXCEPTION((void)I->unpack_as<Generator>(t), PythonError,
                        message_is("TypeError: unpack(): expected Generator but got Tensor"));
  Generator g = Generator::create();
  BOOST_CHECK_EXCEPTION((void)I->new_with_var(I->tensor_type(), g), Error,
                        message_is("Creating a Generator subclass from a class that does not "
                                   "inherit from Generator is not possible."));
  BOOST_CHECK_EXCEPTION((void)I->add_preserved_type<Generator>(), Error,
                        message_is("Generator is already registered in interpreter I0"));
}

// The leak check, the live counts and the pictures cover the new type without naming it.
BOOST_AUTO_TEST_CASE(counts_and_pictures_work_unchanged, *utf::label("diagram")) {
  Generator g = Generator::create();
  const LiveCount* count = LiveCount::of("GeneratorImpl");
  BOOST_REQUIRE(count != nullptr);
  BOOST_TEST(count->get() >= 1);
  Ref p = I->wrap(g);
  const RuntimeView* seen_from[] = {&I->view()};
  OwnershipView v = look_at(g.getIntrusivePtr().get(), seen_from);
  BOOST_TEST(v.kind == "GeneratorImpl");
  BOOST_TEST(v.state == LifeState::L);
  Graph graph = ownership_graph(v);
  const Node* target = graph.node("target");
  BOOST_REQUIRE(target != nullptr);
  BOOST_TEST(target->label.rfind("GeneratorImpl #", 0) == 0u);
  BOOST_TEST(graph.node("cpp_owners")->label == "C++ references\n(Generator handles)");
  g.reset();
  p.reset();
  BOOST_TEST(count->get() == 0);
  OwnershipView gone = look_at(static_cast<const GeneratorImpl*>(nullptr), seen_from);
  BOOST_TEST(gone.state == LifeState::D);
  BOOST_TEST(ownership_graph(gone).node("target")->label == "GeneratorImpl\nfreed (D)");
}

// E4: the same type in an E4 interpreter (Note [Era E4 in the binding]).  Nothing
// else is needed: the wrapper owns the generator for its whole life, and C++ holds the
// wrapper while it shares the generator, so Python letting go makes no zombie, and the
// next wrap returns the same object with its __dict__.
BOOST_AUTO_TEST_CASE(in_e4_cpp_holds_the_wrapper_while_it_shares, *utf::label("e4")) {
  const auto generators = GeneratorImpl::live_count();
  {
    Interpreter::Owner I4 = Interpreter::create("I4", Era::E4);
    (void)I4->add_preserved_type<Generator>();
    Generator g = Generator::create();
    Ref p = I4->wrap(g);
    I4->setattr(p, "foo", std::int64_t{7});
    const PyObject* first = p.get();
    Snapshot s = inspect(*I4, g.getIntrusivePtr().get());
    BOOST_TEST(s.state == SlotState::L);
    BOOST_TEST(s.strong == 2u);
    BOOST_TEST(s.refcnt == 2);  // Python's p, and C++'s reference while g shares it
    BOOST_TEST(!s.owns);
    BOOST_TEST(s.cdata == CdataKind::Owned);
    p.reset();
    s = inspect(*I4, g.getIntrusivePtr().get());
    BOOST_TEST(s.state == SlotState::L);  // no zombie: C++'s reference keeps it live
    BOOST_TEST(s.refcnt == 1);
    Ref q = I4->wrap(g);
    BOOST_TEST(q.get() == first);
    BOOST_TEST(std::get<std::int64_t>(I4->getattr(q, "foo")) == 7);
    q.reset();
    g.reset();  // 2 -> 1 gives C++'s reference back; the wrapper dies, and the generator
    BOOST_TEST(GeneratorImpl::live_count() == generators);
    BOOST_TEST(I4->live_objects() == 0u);
  }
}

BOOST_AUTO_TEST_SUITE_END()
