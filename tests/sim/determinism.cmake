# determinism.cmake — runs concur-sim seeds twice with -v; fails unless the traces are identical.
# Usage: cmake -DSIM=<concur-sim> -DOUT=<file prefix> -P determinism.cmake
foreach(run "3;11" "5;12" "7;13")
  list(GET run 0 nodes)
  list(GET run 1 seed)
  foreach(i 1 2)
    execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=CONCUR_SOAK ${SIM} --nodes ${nodes} --seed ${seed} -v
                    OUTPUT_FILE ${OUT}.${nodes}.${i} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "concur-sim --nodes ${nodes} --seed ${seed} -v exited with ${rc}")
    endif()
  endforeach()
  file(SIZE ${OUT}.${nodes}.1 size)
  if(size LESS 10000)
    message(FATAL_ERROR "trace of seed ${seed} is suspiciously short (${size} bytes)")
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT}.${nodes}.1 ${OUT}.${nodes}.2
                  RESULT_VARIABLE differ)
  if(NOT differ EQUAL 0)
    message(FATAL_ERROR "seed ${seed} (${nodes} nodes): two runs gave different traces: "
                        "${OUT}.${nodes}.1 vs ${OUT}.${nodes}.2")
  endif()
  message(STATUS "seed ${seed}, ${nodes} nodes: ${size}-byte trace identical over two runs")
endforeach()
