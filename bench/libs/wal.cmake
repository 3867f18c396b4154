# concur-bench wal: the WAL benchmark (bench/bench_wal.c).
list(APPEND BENCH_LIBS concur_storage)
