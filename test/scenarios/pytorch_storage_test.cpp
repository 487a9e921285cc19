// PyTorch's storage preservation tests (test/test_torch.py, era E2), ported.
#include <boost/test/unit_test.hpp>

#include "revive/binding/tensor_methods.h"
#include "scenario_fixture.h"

using namespace revive;
using namespace revive::interp;
using namespace revive::binding;
using namespace revive::trace;

namespace {

struct Fixture : revive::testing::ScenarioFixture {
  // class MyStorage(torch.UntypedStorage): def __del__(self): MyStorage.finalized_count += 1
  const PyType* my_storage(int* finalized_count) {
    return I->new_class("MyStorage", I->storage_type(),
                        ClassSpec{std::nullopt, [finalized_count](Runtime&, const Ref&) {
                                    ++*finalized_count;
                                  }});
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(pytorch_storage, Fixture, *utf::label("scenario") *utf::label("storage"))

// test_storage_dealloc:
//   s0 = torch.UntypedStorage(10); s1 = s0; s0._tracker = t; del t
//   del s0: not finalized; del s1: finalized
BOOST_AUTO_TEST_CASE(test_storage_dealloc) {
  auto [m, t] = make_tracker();
  Ref s0 = I->new_storage(10);
  Ref s1 = s0;
  I->setattr(s0, "_tracker", t);
  t.reset();
  BOOST_TEST(!*m);
  s0.reset();
  BOOST_TEST(!*m);
  s1.reset();
  BOOST_TEST(*m);
}

// test_storage_from_tensor_dealloc:
//   a = torch.randn(10); s0 = a.untyped_storage(); s0._tracker = t; del t
//   s1 = a.untyped_storage(); s0 is s1; hasattr(s1, '_tracker')
//   del a: not finalized; del s0: not finalized; del s1: finalized
BOOST_AUTO_TEST_CASE(test_storage_from_tensor_dealloc) {
  auto [m, t] = make_tracker();
  Ref a = I->empty(10);
  Ref s0 = untyped_storage(*I, a);
  I->setattr(s0, "_tracker", t);
  t.reset();
  Ref s1 = untyped_storage(*I, a);
  BOOST_TEST(s0 == s1);
  BOOST_TEST(I->hasattr(s1, "_tracker"));
  a.reset();
  BOOST_TEST(!*m);
  s0.reset();
  BOOST_TEST(!*m);
  s1.reset();
  BOOST_TEST(*m);
}

// test_storage_from_tensor_dealloc_zombie:
//   s0 = a.untyped_storage(); s0._tracker = t; del t; del s0: not finalized; del a: finalized
BOOST_AUTO_TEST_CASE(test_storage_from_tensor_dealloc_zombie) {
  auto [m, t] = make_tracker();
  Ref a = I->empty(10);
  Ref s0 = untyped_storage(*I, a);
  I->setattr(s0, "_tracker", t);
  t.reset();
  s0.reset();
  BOOST_TEST(!*m);
  a.reset();
  BOOST_TEST(*m);
}

// test_storage_from_tensor_dealloc_resurrected:
//   ... del s0; s0 = a.untyped_storage(); isinstance(s0._tracker, Tracker)
//   del a: not finalized; del s0: finalized
BOOST_AUTO_TEST_CASE(test_storage_from_tensor_dealloc_resurrected) {
  auto [m, t] = make_tracker();
  const PyType* tracker_type = I->type_of(t);
  Ref a = I->empty(10);
  Ref s0 = untyped_storage(*I, a);
  I->setattr(s0, "_tracker", t);
  t.reset();
  s0.reset();
  BOOST_TEST(!*m);
  s0 = untyped_storage(*I, a);
  BOOST_TEST(I->type_of(std::get<Ref>(I->getattr(s0, "_tracker"))) == tracker_type);
  a.reset();
  BOOST_TEST(!*m);
  s0.reset();
  BOOST_TEST(*m);
}

// test_storage_dealloc_resurrected:
//   s = torch.UntypedStorage(10); s._tracker = t; del t; a = torch.tensor(s)
//   del s: not finalized; s = a.untyped_storage(); isinstance(s._tracker, Tracker)
//   del a: not finalized; del s: finalized
BOOST_AUTO_TEST_CASE(test_storage_dealloc_resurrected) {
  auto [m, t] = make_tracker();
  const PyType* tracker_type = I->type_of(t);
  Ref s = I->new_storage(10);
  I->setattr(s, "_tracker", t);
  t.reset();
  Ref a = tensor_from_storage(*I, s);
  BOOST_TEST(!*m);
  s.reset();
  BOOST_TEST(!*m);
  s = untyped_storage(*I, a);
  BOOST_TEST(I->type_of(std::get<Ref>(I->getattr(s, "_tracker"))) == tracker_type);
  a.reset();
  BOOST_TEST(!*m);
  s.reset();
  BOOST_TEST(*m);
}

// test_storage_dealloc_subclass_zombie:
//   s = MyStorage(10); s._tracker = t; del t; a = torch.tensor(s)
//   del s: finalized_count == 0, not m[0]; del a: finalized_count == 1, m[0]
BOOST_AUTO_TEST_CASE(test_storage_dealloc_subclass_zombie) {
  int finalized_count = 0;
  const PyType* cls = my_storage(&finalized_count);
  auto [m, t] = make_tracker();
  Ref s = I->new_storage(10, cls);
  I->setattr(s, "_tracker", t);
  t.reset();
  Ref a = tensor_from_storage(*I, s);
  BOOST_TEST(!*m);
  s.reset();
  BOOST_TEST(finalized_count == 0);
  BOOST_TEST(!*m);
  a.reset();
  BOOST_TEST(finalized_count == 1);
  BOOST_TEST(*m);
}

// test_storage_dealloc_subclass_resurrected:
//   ... del s: count 0; s = a.untyped_storage(); del a; del s: count 1, m[0]
BOOST_AUTO_TEST_CASE(test_storage_dealloc_subclass_resurrected) {
  int finalized_count = 0;
  const PyType* cls = my_storage(&finalized_count);
  auto [m, t] = make_tracker();
  Ref s = I->new_storage(10, cls);
  I->setattr(s, "_tracker", t);
  t.reset();
  Ref a = tensor_from_storage(*I, s);
  BOOST_TEST(!*m);
  s.reset();
  BOOST_TEST(finalized_count == 0);
  BOOST_TEST(!*m);
  s = untyped_storage(*I, a);
  BOOST_TEST(I->type_of(s) == cls);
  a.reset();
  s.reset();
  BOOST_TEST(finalized_count == 1);
  BOOST_TEST(*m);
}

// test_storage_preserve_nonhermetic_in_hermetic_context: a storage wrapper made
// outside hermetic mode, whose last Python reference is dropped inside it, keeps
// its state (the dealloc ignores the TLS and reads is_hermetic).
BOOST_AUTO_TEST_CASE(test_storage_preserve_nonhermetic_in_hermetic_context, *utf::label("hermetic")) {
  auto [m, t] = make_tracker();
  Ref a = I->empty(10);
  Ref s = untyped_storage(*I, a);
  I->setattr(s, "_tracker", t);
  t.reset();
  {
    impl::EnableHermeticPyObject hermetic;
    s.reset();
  }
  BOOST_TEST(!*m);
  s = untyped_storage(*I, a);
  BOOST_TEST(I->hasattr(s, "_tracker"));
  a.reset();
  s.reset();
  BOOST_TEST(*m);
}

BOOST_AUTO_TEST_SUITE_END()
