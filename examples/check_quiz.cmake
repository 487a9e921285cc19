# check_quiz.cmake: revive-tour --quiz, driven from a pipe as a learner's answers.
#
#   cmake -DTOUR=<revive-tour> -DOUT=<scratch dir> -P check_quiz.cmake
#
# Answers `preserved` with one step wrong (step 6: "L 2 0 0", where the row is a zombie,
# "Z 1 1 1") and one skipped (an empty line), and checks the marks, the revealed rows and
# the score; then an E4 quiz answered entirely right; then answers in the row's own form
# ("n=1") and lower case; then that input running out ends
# the questions without an error; then that --quiz wants exactly one scenario.
cmake_minimum_required(VERSION 3.25)
file(MAKE_DIRECTORY "${OUT}")

function(quiz answers)
  file(WRITE "${OUT}/answers.txt" "${answers}")
  execute_process(COMMAND "${TOUR}" ${ARGN} INPUT_FILE "${OUT}/answers.txt"
    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  set(out "${out}" PARENT_SCOPE)
  set(rc "${rc}" PARENT_SCOPE)
  set(err "${err}" PARENT_SCOPE)
endfunction()

function(expect text)
  string(FIND "${out}" "${text}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "the quiz does not print \"${text}\"; it printed:\n${out}${err}")
  endif()
endfunction()

quiz("U 1 - -\nL 2 1 0\nL 2 1 0\nL 2 2 0\nL 2 1 0\nL 2 0 0\n\nL 2 1 0\nZ 1 1 1\nD - - -\n" --quiz preserved)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "revive-tour --quiz preserved exited ${rc}:\n${out}${err}")
endif()
expect("step 6: Py: del p")
expect("state wrong (Z)  n wrong (1)  r wrong (1)  owns wrong (1)")
expect("the row:  Z n=1 r=1 tag=I0 owns=1 cdata=borrowed via=T3 fin=0")
expect("state right  n right  r right  owns right")
expect("score: 32 of 36 answers right; 8 of 10 steps entirely right, 1 skipped")

quiz("U 1 - -\nL 2 2 0\nL 2 2 0\nL 2 3 0\nL 2 2 0\nL 2 1 0\nL 2 2 0\nL 2 2 0\nL 2 1 0\nD - - -\n" --era e4 --quiz preserved)
expect("quiz: preserved (era E4)")
expect("score: 40 of 40 answers right; 10 of 10 steps entirely right, 0 skipped")

quiz("u n=1 - -\nl n=2 r=1 owns=0\n" --quiz preserved)
expect("score: 8 of 8 answers right; 2 of 10 steps entirely right, 8 skipped")

quiz("U 1 - -\n" --quiz preserved)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "a quiz whose input runs out must end quietly; it exited ${rc}:\n${out}${err}")
endif()
expect("(no more input)")
expect("score: 4 of 4 answers right; 1 of 10 steps entirely right, 9 skipped")

foreach(args "--quiz" "--quiz;preserved;weakref-hole")
  quiz("" ${args})
  if(NOT rc EQUAL 2 OR NOT err MATCHES "--quiz takes one scenario")
    message(FATAL_ERROR "revive-tour ${args} must exit 2 with a reason; it exited ${rc}:\n${err}")
  endif()
endforeach()
message(STATUS "the quiz asks, reveals, marks and scores")
