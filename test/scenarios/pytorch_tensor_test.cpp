// PyTorch's tensor preservation tests (test/test_torch.py, era E2), ported line by line.
// Each case quotes the Python it ports; `del x` is `x.reset()`.
#include <boost/test/unit_test.hpp>

#include "revive/binding/tensor_methods.h"
#include "scenario_fixture.h"

using namespace revive;
using namespace revive::interp;
using namespace revive::binding;
using namespace revive::trace;
using revive::testing::message_is;

namespace {

template <Era E>
using Fixture = revive::testing::ScenarioFixtureFor<E>;

}  // namespace

// The cases run once per era, in two suites of the same test names: PyTorch's
// expectations of each (E4: PyTorch #167564, November 2025; `era` says which runs).
BOOST_FIXTURE_TEST_SUITE(pytorch_tensor, Fixture<Era::E2>, *utf::label("scenario") *utf::label("e2") *utf::label("resurrection"))
#include "pytorch_tensor_cases.h"
BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(pytorch_tensor_e4, Fixture<Era::E4>, *utf::label("scenario") *utf::label("e4"))
#include "pytorch_tensor_cases.h"
BOOST_AUTO_TEST_SUITE_END()
