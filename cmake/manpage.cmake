# Writes swapmoe(1) from the binary's own --help texts, so the man page never disagrees with
# the program. Run as: cmake -DSWAPMOE=path/to/swapmoe -DOUT=swapmoe.1 -DVERSION=x.y.z -P manpage.cmake
function(help_of out_var)
  execute_process(COMMAND ${SWAPMOE} ${ARGN} --help OUTPUT_VARIABLE text RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "swapmoe ${ARGN} --help failed (${rc})")
  endif()
  # roff: backslashes are escapes, and a leading dot or quote starts a request.
  string(REPLACE "\\" "\\e" text "${text}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" text "${text}")
  set(${out_var} "${text}" PARENT_SCOPE)
endfunction()

help_of(top)
set(page ".TH SWAPMOE 1 \"\" \"swapmoe ${VERSION}\" \"User Commands\"
.SH NAME
swapmoe \\- serve Mixture-of-Experts models under a memory budget
.SH SYNOPSIS
.B swapmoe
\\fISUBCOMMAND\\fR [\\fIOPTIONS\\fR]
.SH DESCRIPTION
swapmoe runs Mixture-of-Experts GGUF models on machines with less memory than the model.
Under a memory budget it keeps the most important experts resident, routes tokens to them,
and swaps experts in the background (SwapMoE, Kong et al., ACL 2024).
.PP
.nf
${top}.fi
.SH SUBCOMMANDS
")
foreach(sub run chat serve perplexity bench synth profile plan tokenize template)
  help_of(text ${sub})
  string(APPEND page ".SS ${sub}\n.nf\n${text}.fi\n")
endforeach()
string(APPEND page ".SH ENVIRONMENT
.TP
.B SWAPMOE_CPU
Use at most these CPU kernels (as --cpu): avx512, avx2_vnni, avx2, neon_dotprod, neon, ref.
.SH SEE ALSO
The README and docs/ of the swapmoe source tree.
")
file(WRITE ${OUT} "${page}")
