# Usage: cmake -DCOMPILER=<c++> -DINCLUDE=<include dir> -DSOURCE=<file> -P check.cmake
# The source must compile as is; with RILL_MISTAKES defined, every line marked
# "// mistake" must be reported as an error (naming a deleted function or a
# failed conversion), and nothing else.
set(flags -std=c++20 -fsyntax-only -Wall -Wextra -Werror -I${INCLUDE})
execute_process(COMMAND ${COMPILER} ${flags} ${SOURCE} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${COMPILER}: the correct part of ${SOURCE} does not compile:\n${out}")
endif()
execute_process(COMMAND ${COMPILER} ${flags} -DRILL_MISTAKES ${SOURCE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "${COMPILER}: the mistakes of ${SOURCE} compile; they must not")
endif()
file(STRINGS ${SOURCE} lines)
get_filename_component(file ${SOURCE} NAME)
set(n 0)
set(count 0)
foreach(line IN LISTS lines)
  math(EXPR n "${n} + 1")
  if(line MATCHES "// mistake$")
    math(EXPR count "${count} + 1")
    if(NOT out MATCHES "${file}:${n}:[0-9]+: error: [^\n]*(deleted|no viable|no match|cannot convert|could not convert)")
      message(FATAL_ERROR "${COMPILER}: line ${n} of ${file} is not refused as a temporary:\n${out}")
    endif()
  endif()
endforeach()
message(STATUS "${COMPILER}: all ${count} mistakes refused")
