# The ipcq-bench smoke tests (functional, never timed). Each runs ipcq-bench
# once with --json --check, fails on a non-zero exit status (ipcq-bench
# checks its own result: every item exactly once, every getter answered
# once, in time's order), and checks that what it printed is one JSON object
# with the figures the report promises.
#
#   cmake -DBENCH=path/to/ipcq-bench -DMODE=strict|batch|async|prefetch -P smoke.cmake
#     2 producers, 2 consumers, 2000 items, private broker
#   cmake -DBENCH=... -DCASE=CASE [-DIPCQD=path/to/ipcqd] -P smoke.cmake, CASE one of
#     fill     --scenario fill, 20000 items
#     queues   --scenario queues, 12000 queues: more than the private broker
#              allows, so with --ipcqd IPCQD
#     waiters  --scenario waiters, 500 getters (timeouts 200-1000 ms)
#     idle     async mode with 1000 --idle-queues
#     procs    async mode, 50 producers and 50 consumers
#     idle-lane --scenario idle-lane, 200 connections, 2000 items a run, with
#              --ipcqd IPCQD (bound to unix://)
cmake_minimum_required(VERSION 3.20)
if(NOT BENCH OR (NOT MODE AND NOT CASE))
  message(FATAL_ERROR "usage: cmake -DBENCH=ipcq-bench -DMODE=strict|batch|async|prefetch "
                      "| -DCASE=fill|queues|waiters|idle|procs|idle-lane [-DIPCQD=ipcqd] -P smoke.cmake")
endif()

# Each key and the value it must have ("" for any value that is not null).
set(throughput_keys
  "tool=ipcq-bench" "scenario=throughput" "items_got=@items@"
  "verified=ON" "lost=0" "duplicated=0" "damaged=0" "reordered=0" "check=ok"
  "seconds=" "items_per_s=" "put_calls=" "get_calls=" "batch=" "window="
  "put_latency_us.p50=" "put_latency_us.p99=" "put_latency_us.p999="
  "get_latency_us.p50=" "get_latency_us.p99=" "get_latency_us.p999="
  "broker.private=ON" "broker.pid=" "broker.cpu_s=" "broker.peak_rss_kib=")
set(scale_keys "tool=ipcq-bench" "verified=ON" "broker.private=ON" "broker.pid=")

if(MODE)
  set(items 2000)
  set(args --producers 2 --consumers 2 --items ${items} --mode ${MODE})
  set(expect ${throughput_keys} "mode=${MODE}" "producers=2" "consumers=2" "items=${items}"
             "idle_queues=0")
elseif(CASE STREQUAL "fill")
  set(args --scenario fill --items 20000)
  set(expect ${scale_keys} "scenario=fill" "items=20000" "size=100" "rss_before_mib="
             "rss_full_mib=" "peak_rss_mib=" "held_mib=" "bytes_per_item=" "put_items_per_s="
             "get_items_per_s=" "rss_drained_mib=")
elseif(CASE STREQUAL "queues")
  if(NOT IPCQD)
    message(FATAL_ERROR "CASE queues needs -DIPCQD=path/to/ipcqd")
  endif()
  set(args --scenario queues --count 12000 --ipcqd ${IPCQD})
  set(expect ${scale_keys} "scenario=queues" "broker.kind=ipcqd" "queues=12000"
             "rss_before_mib=" "rss_full_mib=" "peak_rss_mib=" "bytes_per_queue=" "create_s="
             "delete_s=" "rss_deleted_mib=")
elseif(CASE STREQUAL "waiters")
  set(args --scenario waiters --count 500)
  set(expect ${scale_keys} "scenario=waiters" "getters=500" "queues=5" "answered=500"
             "timed_out=500" "early=0" "late=" "lateness_p50_ms=" "lateness_p99_ms="
             "lateness_max_ms=" "lateness_min_ms=" "send_ms=" "chunk_max_ms=" "rss_blocked_mib="
             "bytes_per_getter=")
elseif(CASE STREQUAL "idle")
  set(items 2000)
  set(args --producers 2 --consumers 2 --items ${items} --mode async --idle-queues 1000)
  set(expect ${throughput_keys} "mode=async" "items=${items}" "idle_queues=1000")
elseif(CASE STREQUAL "idle-lane")
  if(NOT IPCQD)
    message(FATAL_ERROR "CASE idle-lane needs -DIPCQD=path/to/ipcqd")
  endif()
  set(args --scenario idle-lane --count 200 --items 2000 --ipcqd ${IPCQD})
  set(expect ${scale_keys} "scenario=idle-lane" "broker.kind=ipcqd" "idle_connections=200"
             "rss_before_mib=" "open_s=" "rss_idle_mib=" "bytes_per_connection="
             "rss_idle_after_mib=" "peak_rss_mib=" "items_per_s_none=" "items_per_s_idle="
             "idle_vs_none_pct=")
elseif(CASE STREQUAL "procs")
  set(items 5000)
  set(args --producers 50 --consumers 50 --items ${items} --mode async)
  set(expect ${throughput_keys} "mode=async" "producers=50" "consumers=50" "items=${items}")
else()
  message(FATAL_ERROR "unknown CASE '${CASE}'")
endif()

execute_process(
  COMMAND "${BENCH}" ${args} --json --check
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 110)
message("${out}${err}")
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "ipcq-bench exited with ${rc}")
endif()

string(JSON tool ERROR_VARIABLE json_error GET "${out}" tool)
if(json_error)
  message(FATAL_ERROR "the output is not one JSON object: ${json_error}")
endif()

foreach(e IN LISTS expect)
  string(REPLACE "@items@" "${items}" e "${e}")
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
message("ipcq-bench ${MODE}${CASE}: the JSON report has every key")
