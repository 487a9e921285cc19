# check_tour_args.cmake: the tour refuses bad input with a reason, and ignores nothing.
#
#   cmake -DTOUR=<path to revive-tour> -DOUT=<scratch dir> -P check_tour_args.cmake
cmake_minimum_required(VERSION 3.25)

# Runs the tour with ARGN; checks the exit status and that stderr's first line says `reason`.
function(expect status reason)
  execute_process(COMMAND "${TOUR}" ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL status)
    message(FATAL_ERROR "revive-tour ${ARGN}: exit ${rc}, expected ${status}\n${out}${err}")
  endif()
  string(REGEX MATCH "^[^\n]*" first "${err}")
  string(FIND "${first}" "${reason}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "revive-tour ${ARGN}: the first line of stderr should say '${reason}':\n${err}")
  endif()
endfunction()

file(REMOVE_RECURSE "${OUT}")
file(MAKE_DIRECTORY "${OUT}")
file(WRITE "${OUT}/a-file" "not a directory\n")

expect(2 "revive-tour: unknown option --bogus" --bogus)
expect(2 "revive-tour: --pictures needs a directory" --pictures)
expect(2 "revive-tour: no scenario named 'extra'" --list extra)
expect(2 "revive-tour: --list takes nothing else" --list preserved)
expect(2 "revive-tour: no scenario named 'nosuch'" nosuch)
expect(1 "revive-tour: cannot write pictures into ${OUT}/a-file: Not a directory"
       --pictures "${OUT}/a-file" preserved)
expect(2 "revive-tour: --era takes e2 or e4, not 'e3'" --era e3 preserved)
expect(2 "revive-tour: --era needs e2 or e4" --era)
expect(2 "revive-tour: scenario 'disarm' has no E4 telling yet" --era e4 disarm)
expect(2 "revive-tour: scenario 'disarm' has no E4 telling yet" --side-by-side disarm)
expect(2 "revive-tour: --side-by-side prints both eras' rows" --side-by-side --era e4 preserved)
# The explorer: a directory, a readable rows file in tour.py's form, and nothing else.
file(WRITE "${OUT}/bad-rows.tsv" "preserved\t2\tU n=1 fin=0\tC++: t = at::empty({2})\n")
expect(2 "revive-tour: --html needs a directory" --html)
expect(2 "revive-tour: --real-rows goes with --html" --real-rows "${OUT}/bad-rows.tsv")
expect(2 "revive-tour: --html takes a directory and scenario names" --html "${OUT}/site" --era e4)
expect(1 "revive-tour: cannot read ${OUT}/missing.tsv" --html "${OUT}/site" --real-rows "${OUT}/missing.tsv")
expect(1 "revive-tour: ${OUT}/bad-rows.tsv: not examples/cpython/tour.py --rows output"
       --html "${OUT}/site" --real-rows "${OUT}/bad-rows.tsv" preserved)
