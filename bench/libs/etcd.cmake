# concur-bench etcd: closed-loop etcd v3 client load (bench/bench_etcd.c over bench/lib_etcd/:
# a non-blocking gRPC/HTTP2 client on libuv + nghttp2, and the load generator).
add_library(concur_bench_etcd STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/lib_etcd/h2c.c
  ${CMAKE_CURRENT_SOURCE_DIR}/lib_etcd/etcd_load.c)
target_link_libraries(concur_bench_etcd PUBLIC concur_proto concur_util PkgConfig::NGHTTP2
  PkgConfig::LIBUV)
list(APPEND BENCH_LIBS concur_bench_etcd)
