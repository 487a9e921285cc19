# check_tour.cmake: runs the tour as a user would and checks what it prints and writes.
#
#   cmake -DTOUR=<path to revive-tour> -DOUT=<scratch dir> -P check_tour.cmake
#
#   1. `--list` names every scenario of docs/reference.md §9 and the torchdeploy
#      tests it walks through (or names as the same story);
#   2. `--pictures OUT/with-dot preserved` writes step-01.dot .. step-10.dot, states.dot,
#      states.mmd and the bare machine; with Graphviz on the PATH, .svg and .png too;
#   3. `disarm` with an empty PATH writes the .dot and .mmd files, renders nothing and
#      says why;
#   4. with -DDOC=docs/lifecycle.md: the ```mermaid block there is the machine the tour
#      writes (state-machine.mmd), so the document cannot drift from the code.
cmake_minimum_required(VERSION 3.25)
foreach(var TOUR OUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_tour.cmake: -D${var}=... is required")
  endif()
endforeach()

function(expect_file path)
  if(NOT EXISTS "${path}")
    message(FATAL_ERROR "the tour did not write ${path}")
  endif()
endfunction()

# 1. --list
execute_process(COMMAND "${TOUR}" --list OUTPUT_VARIABLE list RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "revive-tour --list failed (${rc})")
endif()
foreach(name
    test_pyobj_preserved test_subclass_preserved test_tensor_slot_dealloc
    test_tensor_dict_dealloc test_tensor_finalizer_dealloc test_tensor_weakref_dealloc
    test_tensor_cycle_via_dict test_tensor_cycle_via_slots test_tensor_ressurecting_clear
    test_tensor_dead_weak_ref test_tensor_resurrected_weak_ref test_tensor_fix_weakref_no_leak
    test_storage_dealloc test_storage_from_tensor_dealloc test_storage_from_tensor_dealloc_zombie
    test_storage_from_tensor_dealloc_resurrected test_storage_dealloc_resurrected
    test_storage_dealloc_subclass_zombie test_storage_dealloc_subclass_resurrected
    test_storage_preserve_nonhermetic_in_hermetic_context
    TensorSharingNotAllowed TaggingRace DisarmHook "#75932" "#136358" "#145253")
  string(FIND "${list}" "${name}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "revive-tour --list does not mention ${name}:\n${list}")
  endif()
endforeach()

# 2. pictures, rendered when dot is there
file(REMOVE_RECURSE "${OUT}")
execute_process(COMMAND "${TOUR}" --pictures "${OUT}/with-dot" preserved
  OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "revive-tour --pictures failed (${rc}):\n${out}")
endif()
foreach(step 01 02 03 04 05 06 07 08 09 10)
  expect_file("${OUT}/with-dot/preserved/step-${step}.dot")
endforeach()
if(EXISTS "${OUT}/with-dot/preserved/step-11.dot")
  message(FATAL_ERROR "the preserved scenario has 10 steps, but step-11.dot was written")
endif()
foreach(file preserved/states.dot preserved/states.mmd state-machine.dot state-machine.mmd)
  expect_file("${OUT}/with-dot/${file}")
endforeach()
file(READ "${OUT}/with-dot/preserved/step-06.dot" zombie)
string(FIND "${zombie}" "\"slot\" -> \"wrapper\" [label=\"pyobj_ (owns = 1)" at)
if(at EQUAL -1)
  message(FATAL_ERROR "step-06.dot does not draw the slot owning the zombie:\n${zombie}")
endif()
find_program(DOT dot)
if(DOT)
  foreach(file preserved/step-01 preserved/step-10 preserved/states state-machine)
    expect_file("${OUT}/with-dot/${file}.svg")
    expect_file("${OUT}/with-dot/${file}.png")
  endforeach()
endif()

# 3. no dot on the PATH
execute_process(COMMAND "${CMAKE_COMMAND}" -E env PATH=/nonexistent
  "${TOUR}" --pictures "${OUT}/without-dot" disarm
  OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "revive-tour --pictures without dot failed (${rc}):\n${out}")
endif()
string(FIND "${out}" "was not found, so only .dot and .mmd files are written" at)
if(at EQUAL -1)
  message(FATAL_ERROR "without dot, the tour should say it renders nothing:\n${out}")
endif()
expect_file("${OUT}/without-dot/disarm/step-01.dot")
expect_file("${OUT}/without-dot/disarm/states.mmd")
file(GLOB rendered "${OUT}/without-dot/*/*.png" "${OUT}/without-dot/*/*.svg")
if(rendered)
  message(FATAL_ERROR "without dot nothing should be rendered, found: ${rendered}")
endif()
# 4. the document's Mermaid diagram
if(DEFINED DOC)
  file(READ "${DOC}" doc)
  string(FIND "${doc}" "```mermaid\n" begin)
  if(begin EQUAL -1)
    message(FATAL_ERROR "${DOC} has no mermaid block")
  endif()
  math(EXPR begin "${begin} + 11")
  string(SUBSTRING "${doc}" ${begin} -1 rest)
  string(FIND "${rest}" "```" end)
  string(SUBSTRING "${rest}" 0 ${end} block)
  file(READ "${OUT}/with-dot/state-machine.mmd" generated)
  if(NOT block STREQUAL generated)
    message(FATAL_ERROR "the mermaid block of ${DOC} differs from the tour's state-machine.mmd; "
      "paste ${OUT}/with-dot/state-machine.mmd into it:\n${generated}")
  endif()
endif()
message(STATUS "tour: list, pictures with and without dot, the document's diagram: ok")
