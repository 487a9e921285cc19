// revive_test.h: what every suite shares.
//
//   LeakCheck            the root fixture of every suite: saves and restores the global
//                        state tests may touch (hermetic TLS and its global flag, the
//                        trampoline's main interpreter), and
//                        checks at the end of each case that no preserved C++ object
//                        (TensorImpl, StorageImpl, any type with a LiveCount) and no
//                        Python object created by the case is left alive.
//   WithInterpreter      LeakCheck with one interpreter `I` named "I0", torch loaded.
//   WithRuntime          LeakCheck with one bare fake runtime `I` named "I0" (no torch):
//                        the runtime's own tests (test/interp/).
//   message_is(text)     a predicate for BOOST_CHECK_EXCEPTION: what() == text.
//   message_has(text)    the same, for a substring (messages with pointers in them).
#pragma once

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <exception>
#include <map>
#include <string>

#include "revive/binding/interpreter.h"
#include "revive/interp/runtime.h"
#include "revive/pyslot/hermetic_tls.h"
#include "revive/pyslot/python_op_registration_trampoline.h"
#include "revive/tensor/live_count.h"
#include "revive/tensor/storage_impl.h"
#include "revive/tensor/tensor_impl.h"

namespace utf = boost::unit_test;

namespace revive::testing {

struct LeakCheck {
  LeakCheck()
      : hermetic_(impl::HermeticPyObjectTLS::get_state_slow()),
        have_state_(impl::HermeticPyObjectTLS::have_state()),
        main_(impl::PythonOpRegistrationTrampoline::getInterpreter()),
        cpp_(live_counts()),
        objects_(interp::Runtime::live_object_count()) {}

  ~LeakCheck() {
    for (const auto& [type, count] : live_counts()) {
      const auto before = cpp_.find(type);
      BOOST_TEST(count == (before == cpp_.end() ? 0 : before->second), "a " << type << " leaked");
    }
    BOOST_TEST(interp::Runtime::live_object_count() == objects_, "a Python object leaked");
    BOOST_TEST(impl::HermeticPyObjectTLS::get_state_slow() == hermetic_,
               "hermetic mode was left changed");
    impl::HermeticPyObjectTLS::set_state(hermetic_);
    if (have_state_) {
      impl::HermeticPyObjectTLS::init_state();
    } else {
      impl::HermeticPyObjectTLS::unsafe_reset_have_state_for_testing();
    }
    if (impl::PythonOpRegistrationTrampoline::getInterpreter() != main_) {
      impl::PythonOpRegistrationTrampoline::unsafe_reset_for_testing();
      if (main_ != nullptr) (void)impl::PythonOpRegistrationTrampoline::registerInterpreter(main_);
    }
  }

  LeakCheck(const LeakCheck&) = delete;
  LeakCheck& operator=(const LeakCheck&) = delete;

 private:
  bool hermetic_;
  bool have_state_;
  impl::PyInterpreter* main_;
  // Every preserved C++ type's live count (LiveCount), by type name.
  static std::map<std::string, std::int64_t> live_counts() {
    std::map<std::string, std::int64_t> out;
    for (const LiveCount* c : LiveCount::all()) out[c->type_name()] = c->get();
    return out;
  }
  std::map<std::string, std::int64_t> cpp_;
  std::int64_t objects_;
};

// LeakCheck plus one interpreter, "I0", torn down before the leak checks run.
struct WithInterpreter : LeakCheck {
  binding::Interpreter::Owner I = binding::Interpreter::create("I0");
};

// LeakCheck plus one bare runtime, "I0".
struct WithRuntime : LeakCheck {
  interp::Runtime::Owner I = interp::Runtime::create("I0");
};

inline auto message_is(std::string expected) {
  return [expected = std::move(expected)](const std::exception& e) {
    const bool ok = std::string(e.what()) == expected;
    if (!ok) BOOST_TEST_MESSAGE("message was: " << e.what());
    return ok;
  };
}

inline auto message_has(std::string part) {
  return [part = std::move(part)](const std::exception& e) {
    const bool ok = std::string(e.what()).find(part) != std::string::npos;
    if (!ok) BOOST_TEST_MESSAGE("message was: " << e.what());
    return ok;
  };
}

}  // namespace revive::testing
