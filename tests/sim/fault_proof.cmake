# fault_proof.cmake — passes only if the simulator linked against a core with a planted bug
# reports a violation at some seed S at which the simulator linked against the real core holds
# (so the violation is the planted bug's doing, not another bug's).
# With MATCH, only a violation whose description matches that regular expression counts (e.g.
# only the Raft safety properties, not contract checks or liveness).
# Seed counts are exact: CONCUR_SOAK is removed from the runs' environment.
# Usage: cmake -DFAULTY=<concur-sim-faultN> -DCLEAN=<concur-sim> -DNODES=n -DSEEDS=k
#              [-DEXTRA=--no-contract-checks] [-DMATCH=regex] -P fault_proof.cmake
set(first 1)
math(EXPR last "${SEEDS}")
while(first LESS_EQUAL last)
  math(EXPR count "${last} - ${first} + 1")
  execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=CONCUR_SOAK
                          ${FAULTY} --expect-violation --nodes ${NODES} --seed ${first}
                          --seeds ${count} ${EXTRA}
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  string(REGEX MATCH "VIOLATION at seed ([0-9]+)[^\n]*" line "${out}")
  if(NOT rc EQUAL 0 OR NOT line)
    message(FATAL_ERROR "${FAULTY} found no violation in seeds ${first}..${last}:\n${err}")
  endif()
  set(seed ${CMAKE_MATCH_1})
  message(STATUS "${line}")
  if(MATCH AND NOT line MATCHES "${MATCH}")
    message(STATUS "not a violation of the kind required (${MATCH}); looking further")
    math(EXPR first "${seed} + 1")
    continue()
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=CONCUR_SOAK
                          ${CLEAN} --nodes ${NODES} --seed ${seed} ${EXTRA}
                  OUTPUT_QUIET ERROR_QUIET RESULT_VARIABLE crc)
  if(crc EQUAL 0)
    message(STATUS "the real core holds at seed ${seed}: the planted fault was caught")
    return()
  endif()
  message(STATUS "the real core fails seed ${seed} too; looking further")
  math(EXPR first "${seed} + 1")
endwhile()
message(FATAL_ERROR "no seed in 1..${last} tells the planted fault from the real core")
