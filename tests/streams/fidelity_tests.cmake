# Validation fidelity tests in tests/streams/ (fidelity): included from tests/CMakeLists.txt.
add_executable(rill_streams_fidelity_tests
  ${CMAKE_CURRENT_LIST_DIR}/fidelity_test.cpp
)
target_link_libraries(rill_streams_fidelity_tests PRIVATE rill::testing GTest::gtest GTest::gtest_main)
target_include_directories(rill_streams_fidelity_tests PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
gtest_discover_tests(rill_streams_fidelity_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "unit")
target_sources(rill_streams_fidelity_tests PRIVATE ${CMAKE_CURRENT_LIST_DIR}/new_features_test.cpp)
