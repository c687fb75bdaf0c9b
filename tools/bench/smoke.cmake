# The ipcq-bench smoke test (functional, never timed): runs
#   ipcq-bench --producers 2 --consumers 2 --items 2000 --mode MODE --json --check
# against its private broker, fails on a non-zero exit status (ipcq-bench
# checks every item itself), and checks that what it printed is one JSON
# object with the figures the report promises.
#
#   cmake -DBENCH=path/to/ipcq-bench -DMODE=strict|batch|async|prefetch -P smoke.cmake
cmake_minimum_required(VERSION 3.20)
if(NOT BENCH OR NOT MODE)
  message(FATAL_ERROR "usage: cmake -DBENCH=ipcq-bench -DMODE=strict|batch|async|prefetch -P smoke.cmake")
endif()

execute_process(
  COMMAND "${BENCH}" --producers 2 --consumers 2 --items 2000 --mode "${MODE}" --json --check
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 110)
message("${out}${err}")
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "ipcq-bench exited with ${rc}")
endif()

string(JSON tool ERROR_VARIABLE json_error GET "${out}" tool)
if(json_error)
  message(FATAL_ERROR "the output is not one JSON object: ${json_error}")
endif()

# Each key and the value it must have ("" for any value that is not null).
set(expect
  "tool=ipcq-bench" "mode=${MODE}" "producers=2" "consumers=2" "items=2000" "items_got=2000"
  "verified=ON" "lost=0" "duplicated=0" "damaged=0" "reordered=0" "check=ok"
  "seconds=" "items_per_s=" "put_calls=" "get_calls=" "batch=" "window="
  "put_latency_us.p50=" "put_latency_us.p99=" "put_latency_us.p999="
  "get_latency_us.p50=" "get_latency_us.p99=" "get_latency_us.p999="
  "broker.private=ON" "broker.pid=" "broker.cpu_s=" "broker.peak_rss_kib=")
foreach(e IN LISTS expect)
  string(REPLACE "=" ";" kv "${e}")
  list(GET kv 0 key)
  list(LENGTH kv n)
  set(want "")
  if(n GREATER 1)
    list(GET kv 1 want)
  endif()
  string(REPLACE "." ";" path "${key}")
  string(JSON value ERROR_VARIABLE json_error GET "${out}" ${path})
  if(json_error)
    message(FATAL_ERROR "key ${key} missing: ${json_error}")
  endif()
  string(JSON type TYPE "${out}" ${path})
  if(type STREQUAL "NULL")
    message(FATAL_ERROR "key ${key} is null")
  endif()
  if(NOT want STREQUAL "" AND NOT value STREQUAL want)
    message(FATAL_ERROR "key ${key} is '${value}', want '${want}'")
  endif()
endforeach()
message("ipcq-bench ${MODE}: the JSON report has every key")
