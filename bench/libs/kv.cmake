list(APPEND BENCH_LIBS concur_kv)
