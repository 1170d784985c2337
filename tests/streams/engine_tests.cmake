# The engine's tests in tests/streams/ (core-engine): included from tests/CMakeLists.txt.
add_executable(rill_streams_engine_tests
  ${CMAKE_CURRENT_LIST_DIR}/engine_scale_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/memory_prefault_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/engine_reliability_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/engine_limits_test.cpp
)
target_link_libraries(rill_streams_engine_tests PRIVATE rill::rill GTest::gtest GTest::gtest_main nlohmann_json::nlohmann_json)
target_include_directories(rill_streams_engine_tests PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
target_compile_options(rill_streams_engine_tests PRIVATE -Wno-missing-field-initializers)
gtest_discover_tests(rill_streams_engine_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "unit")
