// error.h: the two ways this project reports a broken rule.
//
// Defines:
//   revive::Error                 what c10::Error is to PyTorch: a contract a *user* can
//                                 break (wrong interpreter, dead interpreter, misuse).
//                                 Thrown; the state is left unchanged.
//   REVIVE_CHECK(cond, msg...)    throw revive::Error with the concatenated message.
//   REVIVE_INTERNAL_ASSERT(c, m)  a broken *memory-safety* invariant: print what broke,
//                                 in words, and abort.  Never thrown: once an ownership
//                                 invariant is broken there is nothing safe to unwind to.
//
// Example (compiled in test/pyslot/error_test.cpp):
//   try { REVIVE_CHECK(1 + 1 == 3, "arithmetic is ", "broken"); }
//   catch (const revive::Error& e) { assert(std::string(e.what()) == "arithmetic is broken"); }
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace revive {

// A user-visible contract violation.  Texts that PyTorch has are kept verbatim
// (docs/reference.md §6) so tests can match them.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {

template <class... Args>
std::string str_cat(Args&&... args) {
  std::ostringstream os;
  if constexpr (sizeof...(Args) > 0) {
    (os << ... << std::forward<Args>(args));
  }
  return os.str();
}

[[noreturn]] void internal_assert_fail(const char* file, int line, const char* cond,
                                       const std::string& msg) noexcept;

}  // namespace detail
}  // namespace revive

#define REVIVE_CHECK(cond, ...)                                          \
  do {                                                                   \
    if (!(cond)) [[unlikely]] {                                          \
      throw ::revive::Error(::revive::detail::str_cat(__VA_ARGS__));     \
    }                                                                    \
  } while (false)

#define REVIVE_INTERNAL_ASSERT(cond, ...)                                            \
  do {                                                                               \
    if (!(cond)) [[unlikely]] {                                                      \
      ::revive::detail::internal_assert_fail(__FILE__, __LINE__, #cond,              \
                                             ::revive::detail::str_cat("" __VA_OPT__(, ) __VA_ARGS__)); \
    }                                                                                \
  } while (false)
