// Tests for revive/pyslot/error.h: REVIVE_CHECK throws revive::Error with the
// concatenated message, and REVIVE_INTERNAL_ASSERT aborts with the broken invariant in
// words (checked in a forked child, since an abort cannot be caught).
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "revive/pyslot/error.h"
#include "revive_test.h"

// Compile-time contracts: an Error is a std::runtime_error (callers that only know the
// standard hierarchy still catch it), built from a string, never implicitly.
static_assert(std::is_base_of_v<std::runtime_error, revive::Error>,
              "revive::Error must be catchable as std::runtime_error");
static_assert(std::is_constructible_v<revive::Error, std::string>);
static_assert(!std::is_convertible_v<std::string, revive::Error>,
              "an Error is never made from a string by accident");

namespace {

// What a child process did: how it ended and what it wrote to stderr.
struct ChildOutcome {
  bool signalled = false;
  int signal = 0;
  std::string stderr_text;
};

// Runs `body` in a forked child whose stderr goes to a pipe; the child must not return
// from `body` (if it does, it exits with status 0 and `signalled` stays false).
template <class F>
ChildOutcome run_in_child(F body) {
  ChildOutcome outcome;
  int fds[2];
  if (::pipe(fds) != 0) {
    BOOST_FAIL("pipe() failed");
  }
  // Flush first, or the child would inherit and repeat whatever the log has buffered.
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    BOOST_FAIL("fork() failed");
  }
  if (pid == 0) {
    // The child: Boost.Test's SIGABRT handler would turn the abort into a test failure
    // and keep running the rest of the suite in this process; restore the default.
    std::signal(SIGABRT, SIG_DFL);
    ::close(fds[0]);
    ::dup2(fds[1], STDERR_FILENO);
    body();
    ::_exit(0);
  }
  ::close(fds[1]);
  char buf[512];
  ssize_t n = 0;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) {
    outcome.stderr_text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  outcome.signalled = WIFSIGNALED(status);
  if (outcome.signalled) outcome.signal = WTERMSIG(status);
  return outcome;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(error, revive::testing::LeakCheck, *utf::label("errors"))

// The example in error.h's header comment, verbatim.
BOOST_AUTO_TEST_CASE(header_example_catches_the_concatenated_message) {
  std::string caught;
  try {
    REVIVE_CHECK(1 + 1 == 3, "arithmetic is ", "broken");
  } catch (const revive::Error& e) {
    caught = e.what();
  }
  BOOST_TEST(caught == "arithmetic is broken");
}

// A check that holds throws nothing and evaluates its condition exactly once.
BOOST_AUTO_TEST_CASE(check_that_holds_throws_nothing_and_evaluates_the_condition_once) {
  int evaluations = 0;
  BOOST_CHECK_NO_THROW(REVIVE_CHECK(++evaluations == 1, "evaluated twice"));
  BOOST_TEST(evaluations == 1);
}

// A failed check throws revive::Error whose text is every argument streamed in order.
BOOST_AUTO_TEST_CASE(failed_check_throws_revive_error_with_the_concatenated_text) {
  const std::string who = "interp-0";
  const int numel = -1;
  BOOST_CHECK_EXCEPTION(
      REVIVE_CHECK(numel >= 0, "a tensor on ", who, " cannot have ", numel, " elements", '!'),
      revive::Error, revive::testing::message_is("a tensor on interp-0 cannot have -1 elements!"));
}

// The message arguments are only evaluated when the check fails: checks on hot paths
// cost nothing for the message.
BOOST_AUTO_TEST_CASE(message_arguments_are_evaluated_only_on_failure) {
  int formatted = 0;
  auto expensive = [&formatted] {
    ++formatted;
    return std::string("expensive");
  };
  REVIVE_CHECK(true, expensive());
  BOOST_TEST(formatted == 0);
  BOOST_CHECK_EXCEPTION(REVIVE_CHECK(false, "an ", expensive(), " message"), revive::Error,
                        revive::testing::message_is("an expensive message"));
  BOOST_TEST(formatted == 1);
}

// revive::Error can be caught as std::runtime_error, and what() keeps the text.
BOOST_AUTO_TEST_CASE(error_is_caught_as_a_runtime_error) {
  BOOST_CHECK_EXCEPTION(REVIVE_CHECK(false, "caught ", "as runtime_error"), std::runtime_error,
                        revive::testing::message_is("caught as runtime_error"));
}

// REVIVE_CHECK is one statement: it nests in an unbraced if/else without a dangling else.
BOOST_AUTO_TEST_CASE(check_is_a_single_statement_in_an_unbraced_if_else) {
  int branch = 0;
  const bool take_first = false;
  if (take_first)
    REVIVE_CHECK(false, "never reached");
  else
    branch = 2;
  BOOST_TEST(branch == 2);
}

// str_cat, the formatter behind both macros, streams values of mixed types in order.
BOOST_AUTO_TEST_CASE(str_cat_streams_mixed_values_in_order) {
  BOOST_TEST(revive::detail::str_cat("n=", 3, ", c=", 'x', ", s=", std::string("ok")) ==
             "n=3, c=x, s=ok");
}

// An internal assert that holds does nothing, with or without a message.
BOOST_AUTO_TEST_CASE(internal_assert_that_holds_does_nothing) {
  int evaluations = 0;
  REVIVE_INTERNAL_ASSERT(++evaluations == 1);
  REVIVE_INTERNAL_ASSERT(++evaluations == 2, "with a message");
  BOOST_TEST(evaluations == 2);
}

// A broken internal invariant is never thrown: the process aborts after printing the
// file, the condition and the message in words.
BOOST_AUTO_TEST_CASE(internal_assert_aborts_naming_the_broken_invariant,
                     *utf::timeout(60)) {
  const ChildOutcome outcome = run_in_child([] {
    REVIVE_INTERNAL_ASSERT(1 + 1 == 3, "arithmetic is ", "broken");
  });
  BOOST_TEST(outcome.signalled);
  BOOST_TEST(outcome.signal == SIGABRT);
  BOOST_TEST(outcome.stderr_text.find("revive: internal invariant broken at ") == 0u);
  BOOST_TEST(outcome.stderr_text.find("error_test.cpp:") != std::string::npos);
  BOOST_TEST(outcome.stderr_text.find(": 1 + 1 == 3: arithmetic is broken\n") !=
             std::string::npos);
}

// Without a message, the report ends at the condition (no dangling ": ").
BOOST_AUTO_TEST_CASE(internal_assert_without_a_message_ends_at_the_condition,
                     *utf::timeout(60)) {
  const ChildOutcome outcome = run_in_child([] { REVIVE_INTERNAL_ASSERT(2 + 2 == 5); });
  BOOST_TEST(outcome.signalled);
  BOOST_TEST(outcome.signal == SIGABRT);
  const std::string tail = ": 2 + 2 == 5\n";
  BOOST_TEST(outcome.stderr_text.size() >= tail.size());
  BOOST_TEST(outcome.stderr_text.ends_with(tail));
}

BOOST_AUTO_TEST_SUITE_END()
