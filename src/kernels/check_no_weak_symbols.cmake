# cmake -DNM=nm -DOBJECTS="a.o;b.o" -P check_no_weak_symbols.cmake
# Fails when an object defines a weak symbol (W/V: an inline function, template instance or
# variable the linker may share with other objects). These objects are compiled with
# wider instruction sets than the rest of the program, so such a symbol could put AVX code into
# portable code. Fix: `static inline` or an unnamed namespace for the helper.
set(bad "")
foreach(obj ${OBJECTS})
  execute_process(COMMAND ${NM} --defined-only ${obj} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} failed on ${obj}")
  endif()
  string(REPLACE "\n" ";" lines "${out}")
  foreach(line ${lines})
    # Type information of function types (_ZTI/_ZTS, data without code) is what clang's
    # -fsanitize=function emits beside each function, so sanitizer builds keep it.
    if(line MATCHES "^[0-9a-fA-F]* [WVu] " AND NOT line MATCHES " V _ZT[IS]F")
      string(APPEND bad "  ${obj}: ${line}\n")
    endif()
  endforeach()
endforeach()
if(bad)
  message(FATAL_ERROR "objects built with ISA flags define weak symbols:\n${bad}")
endif()
message(STATUS "no weak symbols in ${OBJECTS}")
