# concur-bench resp: wraps scripts/bench-resp-compare.sh (bench/bench_resp.c needs its folder).
set_source_files_properties(${CMAKE_CURRENT_SOURCE_DIR}/bench_resp.c PROPERTIES
  COMPILE_DEFINITIONS "CONCUR_BENCH_SCRIPTS_DIR=\"${PROJECT_SOURCE_DIR}/scripts\"")
