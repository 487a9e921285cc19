// small_stack.h: running a release on a thread whose stack is small, for the tests of
// Note [Releasing a long chain in bounded stack] (tensor/src/intrusive_ptr.cpp).
//
//   kSmallStack        256 KiB: a chain released by nested calls overflows it.
//   chain_length()     10^6, or REVIVE_CHAIN_LENGTH (the valgrind run: 10^5).
//   on_small_stack(bytes, f)   run f on a new thread with that stack, and wait for it.
#pragma once

#include <pthread.h>

#include <boost/test/unit_test.hpp>
#include <cstddef>
#include <cstdlib>
#include <functional>
#include <string>

namespace revive::testing {

inline constexpr std::size_t kSmallStack = 256 * 1024;

inline std::size_t chain_length() {
  const char* env = std::getenv("REVIVE_CHAIN_LENGTH");
  return env == nullptr ? 1'000'000 : static_cast<std::size_t>(std::stoul(env));
}

inline void on_small_stack(std::size_t bytes, const std::function<void()>& f) {
  pthread_attr_t attr;
  BOOST_REQUIRE(pthread_attr_init(&attr) == 0);
  BOOST_REQUIRE(pthread_attr_setstacksize(&attr, bytes) == 0);
  pthread_t thread;
  auto run = [](void* arg) -> void* {
    (*static_cast<const std::function<void()>*>(arg))();
    return nullptr;
  };
  const int made = pthread_create(&thread, &attr, run, const_cast<std::function<void()>*>(&f));
  pthread_attr_destroy(&attr);
  BOOST_REQUIRE(made == 0);
  BOOST_REQUIRE(pthread_join(thread, nullptr) == 0);
}

}  // namespace revive::testing
