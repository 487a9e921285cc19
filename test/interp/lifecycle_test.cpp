#include "revive_test.h"

BOOST_AUTO_TEST_SUITE(placeholder_lifecycle_test)
BOOST_AUTO_TEST_CASE(placeholder) { BOOST_TEST(true); }
BOOST_AUTO_TEST_SUITE_END()
