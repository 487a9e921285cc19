# check_fuzz.cmake: the libFuzzer target runs clean, in flat memory.
#
#   cmake -DFUZZER=<path to revive_fuzz> -DSECONDS=60 -P check_fuzz.cmake
#
# Runs the fuzzer for SECONDS under libFuzzer's default RSS limit (2048 MB), which it
# must finish cleanly; then compares the peak resident set size the target reports
# after its first 10 seconds with the one at the end.  Every scenario's interpreters
# are reclaimed (Note [Reclaiming a dead interpreter]), so what grows after the first
# 10 s is only libFuzzer's corpus and AddressSanitizer's quarantine, both bounded (the
# quarantine is capped at 64 MB below): more than that is memory growing with the
# number of scenarios, and fails.
cmake_minimum_required(VERSION 3.25)

set(ENV{ASAN_OPTIONS} "quarantine_size_mb=64:detect_leaks=0")
execute_process(
  COMMAND "${FUZZER}" -max_total_time=${SECONDS} -timeout=20 -print_final_stats=1
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "revive_fuzz exited with ${rc}:\n${out}${err}")
endif()
string(REGEX MATCH "revive_fuzz: peak RSS (-?[0-9]+) MB after the first 10 s, ([0-9]+) MB at the end \\(([0-9]+) scenarios\\)"
       line "${err}")
if(line STREQUAL "")
  message(FATAL_ERROR "revive_fuzz did not report its memory:\n${err}")
endif()
set(early ${CMAKE_MATCH_1})
set(late ${CMAKE_MATCH_2})
set(scenarios ${CMAKE_MATCH_3})
if(early LESS 0)
  message(FATAL_ERROR "revive_fuzz ran less than 10 s: ${line}")
endif()
math(EXPR grown "${late} - ${early}")
message(STATUS "${line}: grew ${grown} MB after the first 10 s")
if(grown GREATER 96)
  message(FATAL_ERROR "memory grows with the number of scenarios: ${line}")
endif()
