# ctest driver: install rill from BUILD_DIR into a fresh prefix, check the
# package needs no header-only dependency, then build tests/external with
# COMPILER and -Wall -Wextra -Werror (linking only when LINK is ON), compiling
# every ```cpp block of README.md and docs/*.md too.
#   -DBUILD_DIR= -DSOURCE_DIR= -DWORK_DIR= -DCOMPILER= -DLINK=ON|OFF -DGENERATOR=
#   -DFLAGS="..." link flags (a sanitizer build's -fsanitize=..., to link its runtime)
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "install failed:\n${out}")
endif()

# find_package(rill) must not ask for what only rill's own build needs.
file(GLOB package_files ${prefix}/lib*/cmake/rill/*.cmake)
foreach(f IN LISTS package_files)
  file(READ ${f} text)
  if(text MATCHES "Boost|nlohmann")
    message(FATAL_ERROR "${f} names a header-only build dependency (Boost or nlohmann_json)")
  endif()
endforeach()

# The docs' snippets: each ```cpp block becomes a translation unit. A block
# with its own #include lines is a file as is; otherwise it is a function body.
set(snippets ${WORK_DIR}/snippets)
file(MAKE_DIRECTORY ${snippets})
file(GLOB docs ${SOURCE_DIR}/README.md ${SOURCE_DIR}/docs/*.md)
# A snippet without #include lines sees every public header, as a user who
# includes what the snippet's doc names would.
file(GLOB public_headers RELATIVE ${SOURCE_DIR}/include ${SOURCE_DIR}/include/rill/*.hpp)
set(public_includes "")
foreach(h IN LISTS public_headers)
  string(APPEND public_includes "#include <${h}>\n")
endforeach()
set(count 0)
foreach(doc IN LISTS docs)
  file(STRINGS ${doc} lines)
  get_filename_component(doc_name ${doc} NAME_WE)
  string(MAKE_C_IDENTIFIER ${doc_name} doc_id)
  set(inside OFF)
  foreach(line IN LISTS lines)
    if(NOT inside AND line MATCHES "^```cpp")
      set(inside ON)
      set(body "")
    elseif(inside AND line MATCHES "^```")
      set(inside OFF)
      math(EXPR count "${count} + 1")
      set(file ${snippets}/${doc_id}_${count}.cpp)
      if(body MATCHES "#include")
        file(WRITE ${file} "${body}")
      else()
        file(WRITE ${file} "// From ${doc}\n#include <iostream>\n#include <memory>\n#include <optional>\n"
                           "${public_includes}using namespace std::chrono_literals;\n"
                           "[[maybe_unused]] static int snippet_${count}() {\n${body}\n  return 0;\n}\n")
      endif()
    elseif(inside)
      string(APPEND body "${line}\n")
    endif()
  endforeach()
endforeach()
message(STATUS "${count} snippets from the docs")

execute_process(
  COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/external -B ${WORK_DIR}/build -G ${GENERATOR}
          -DCMAKE_CXX_COMPILER=${COMPILER} -DCMAKE_PREFIX_PATH=${prefix} -DRILL_SOURCE_DIR=${SOURCE_DIR}
          -DSNIPPETS_DIR=${snippets} -DRILL_LINK=${LINK} "-DCMAKE_EXE_LINKER_FLAGS=${FLAGS}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the external project failed:\n${out}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build -j 2
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the external project failed:\n${out}")
endif()
if(LINK)
  execute_process(COMMAND ${WORK_DIR}/build/user_test RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the external project's test failed:\n${out}")
  endif()
endif()
message(STATUS "built warning-free with ${COMPILER}")
