# concur-bench etcd: closed-loop etcd v3 client load (bench/bench_etcd.c over bench/lib_etcd/,
# the load generator, on the shared gRPC/HTTP2 client of src/api/h2client).
add_library(concur_bench_etcd STATIC ${CMAKE_CURRENT_SOURCE_DIR}/lib_etcd/etcd_load.c)
target_link_libraries(concur_bench_etcd PUBLIC concur_h2client concur_proto concur_util)
list(APPEND BENCH_LIBS concur_bench_etcd)
