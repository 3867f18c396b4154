# Libraries concur-bench needs for bench_raft.c (the Raft core).
list(APPEND BENCH_LIBS concur_raft)
