# The broker core's invariant checker (core_check.c), which the unit tests
# of the core and the fuzz target fuzz_broker both run after every step.
# Included from tests/ and from tests/fuzz/, which a build may have either
# or both of; the guard defines the library once.
include_guard(GLOBAL)
add_library(ipcq_core_check STATIC ${CMAKE_CURRENT_LIST_DIR}/core_check.c)
target_include_directories(ipcq_core_check PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(ipcq_core_check PUBLIC ipcq_broker PRIVATE ipcq_warnings)
