// PyTorch's storage preservation tests (test/test_torch.py, era E2), ported.
#include <boost/test/unit_test.hpp>

#include "revive/binding/tensor_methods.h"
#include "scenario_fixture.h"

using namespace revive;
using namespace revive::interp;
using namespace revive::binding;
using namespace revive::trace;
using revive::testing::message_is;

// Named, not anonymous: the suites' cases live in pytorch_storage_cases.h, and a type with
// internal linkage may not be their base.
namespace storage_scenarios {

template <Era E>
struct Fixture : revive::testing::ScenarioFixtureFor<E> {
  // class MyStorage(torch.UntypedStorage): def __del__(self): MyStorage.finalized_count += 1
  const PyType* my_storage(int* finalized_count) {
    return this->I->new_class("MyStorage", this->I->storage_type(),
                        ClassSpec{std::nullopt, [finalized_count](Runtime&, const Ref&) {
                                    ++*finalized_count;
                                  }});
  }
};

}  // namespace storage_scenarios

using storage_scenarios::Fixture;

// The cases run once per era, in two suites of the same test names: PyTorch's
// expectations of each (E4: PyTorch #167564, November 2025; `era` says which runs).
BOOST_FIXTURE_TEST_SUITE(pytorch_storage, Fixture<Era::E2>, *utf::label("scenario") *utf::label("e2") *utf::label("storage"))
#include "pytorch_storage_cases.h"
BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(pytorch_storage_e4, Fixture<Era::E4>, *utf::label("scenario") *utf::label("e4") *utf::label("storage"))
#include "pytorch_storage_cases.h"
BOOST_AUTO_TEST_SUITE_END()
