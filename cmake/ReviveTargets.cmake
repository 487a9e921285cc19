# revive_library(<name> SOURCES ... [LINK ...])
#
# One component library: target revive_<name>, alias revive::<name>, exported as
# revive::<name>, headers under <name>/include/revive/<name>/.
function(revive_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LINK" ${ARGN})
  add_library(revive_${name} ${ARG_SOURCES})
  add_library(revive::${name} ALIAS revive_${name})
  set_target_properties(revive_${name} PROPERTIES EXPORT_NAME ${name})
  target_compile_features(revive_${name} PUBLIC cxx_std_20)
  target_include_directories(revive_${name} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(revive_${name} PUBLIC ${ARG_LINK})
  revive_warnings(revive_${name})
  install(TARGETS revive_${name} EXPORT reviveTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endfunction()

# The project's warning set, on one target.
function(revive_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
    -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual)
  if(REVIVE_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
