# check_campaign.cmake: revive-campaign as a user runs it.
#
#   cmake -DCAMPAIGN=<path to revive-campaign> [-DPLANTED=ON] -P check_campaign.cmake
#
#   1. bad arguments are refused before anything runs: exit 2 and a one-line reason;
#   2. with the planted bug (when built in): a campaign fails, and the "replay:" command
#      it prints, run as printed, fails again with the same first divergence (the
#      interpreters' process-wide serial numbers, "#N", set aside); the printed
#      "{K, A, B, C}" lines pasted into --ops do the same.
cmake_minimum_required(VERSION 3.25)

function(expect_refused reason)
  execute_process(COMMAND "${CAMPAIGN}" ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 2)
    message(FATAL_ERROR "revive-campaign ${ARGN}: exit ${rc}, expected 2\n${out}${err}")
  endif()
  string(FIND "${err}" "${reason}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "revive-campaign ${ARGN}: the reason should mention '${reason}':\n${err}")
  endif()
  if(NOT out STREQUAL "")
    message(FATAL_ERROR "revive-campaign ${ARGN}: ran something before refusing:\n${out}")
  endif()
endfunction()

expect_refused("--ops: op 1: expected a number" --ops garbage)
expect_refused("--ops: op 1: expected a number" --ops "-7,0,0,0")
expect_refused("cut short" --ops "0,0,0,0 1,2")
expect_refused("no op kind 200" --ops "200,0,0,0")
expect_refused("unexpected text after '}'" --ops "{1,2,3,4} rm -rf garbage")
expect_refused("unexpected text after '}'" --ops "{1,2,3,4} {23,4,84,124} x")
expect_refused("--seed takes a whole number" --seed abc)
expect_refused("--steps takes a whole number" --steps -5)
expect_refused("--steps takes a whole number" --steps 99999999999999999999)
expect_refused("--length takes a whole number" --length -1)
expect_refused("unknown argument" --bogus)
expect_refused("needs a value" --steps)
expect_refused("no planted bug \"nonsense\"" --planted nonsense)
expect_refused("--eras takes two eras" --ops "0,0,0,0" --eras E2,E3)
expect_refused("--eras goes with --replay or --ops" --eras E4,E4)

# Two braced ops on one line are two ops, both run.
execute_process(COMMAND "${CAMPAIGN}" --ops "{0,0,0,0} {0,1,0,0}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "\\(2 ops.*0: {0, 0, 0, 0}.*1: {0, 1, 0, 0}")
  message(FATAL_ERROR "revive-campaign --ops \"{0,0,0,0} {0,1,0,0}\": exit ${rc}, expected both ops run:\n${out}${err}")
endif()

execute_process(COMMAND "${CAMPAIGN}" --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
foreach(option --steps --seed --length --replay --ops --eras --planted --progress)
  string(FIND "${help}" "${option}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "revive-campaign --help does not list ${option}:\n${help}")
  endif()
endforeach()

if(NOT PLANTED)
  return()
endif()

# The first divergence a run reports, serial numbers set aside.
function(first_divergence text out_var)
  string(REGEX MATCH "(fails at step|FAILS at step) [0-9]+: [^\n]*" line "${text}")
  string(REGEX REPLACE "^(fails|FAILS) at" "at" line "${line}")
  string(REGEX REPLACE "#[0-9]+" "#" line "${line}")
  string(REGEX REPLACE "\\):$" "" line "${line}")  # the report's "(...; fails at ...):"
  set(${out_var} "${line}" PARENT_SCOPE)
endfunction()

execute_process(COMMAND "${CAMPAIGN}" --steps 50000 --seed 1 --planted --quiet
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 1)
  message(FATAL_ERROR "the planted campaign did not fail (exit ${rc}):\n${out}${err}")
endif()
first_divergence("${err}" reported)
string(REGEX MATCH "replay: revive-campaign --ops \"([0-9, ]+)\"( --eras (E[24],E[24]))? --planted" replay "${err}")
if(replay STREQUAL "" OR reported STREQUAL "")
  message(FATAL_ERROR "the report has no replay line or no first divergence:\n${err}")
endif()
set(ops "${CMAKE_MATCH_1}")
# The scenario's eras (campaigns mix them), given back as the replay line gives them.
set(eras_option "")
if(NOT CMAKE_MATCH_3 STREQUAL "")
  set(eras_option --eras ${CMAKE_MATCH_3})
endif()

execute_process(COMMAND "${CAMPAIGN}" --ops "${ops}" ${eras_option} --planted
  RESULT_VARIABLE rc OUTPUT_VARIABLE again)
first_divergence("${again}" replayed)
if(NOT rc EQUAL 1 OR NOT replayed STREQUAL reported)
  message(FATAL_ERROR "the printed replay did not reproduce '${reported}' (exit ${rc}):\n${again}")
endif()

# The "{K, A, B, C}" lines of the report, pasted into --ops as they are.
string(REGEX MATCHALL "  [0-9]+: \\{[0-9, ]+\\}[^\n]*" lines "${err}")
string(REPLACE ";" "\n" pasted "${lines}")
execute_process(COMMAND "${CAMPAIGN}" --ops "${pasted}" ${eras_option} --planted
  RESULT_VARIABLE rc OUTPUT_VARIABLE again)
first_divergence("${again}" replayed)
if(NOT rc EQUAL 1 OR NOT replayed STREQUAL reported)
  message(FATAL_ERROR "the pasted lines did not reproduce '${reported}' (exit ${rc}):\n${again}")
endif()
message(STATUS "replayed as printed: ${reported}")
