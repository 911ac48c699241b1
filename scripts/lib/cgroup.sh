# Shell code shared by the memory-cgroup scripts (sourced, not run): finding the memory
# controller, skipping a test where no cgroup can be made, and the test model they share.

# Sets cg_version (1 or 2) and cg_root (the hierarchy with the memory controller); returns 1
# when there is none. v1: the 'memory' hierarchy; v2: a cgroup2 mount offering 'memory'.
cgroup_find_memory() {
  cg_version="" cg_root=""
  if [[ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]]; then
    cg_version=1 cg_root=/sys/fs/cgroup/memory
    return 0
  fi
  local mnt type
  while read -r _ mnt type _; do
    if [[ "$type" == cgroup2 ]] && grep -qw memory "$mnt/cgroup.controllers" 2>/dev/null; then
      cg_version=2 cg_root="$mnt"
      return 0
    fi
  done < /proc/mounts
  return 1
}

# For tests: exits 77 (ctest's skip) with a message unless this process can create memory
# cgroups (root, a memory controller, a writable hierarchy); sets cg_version and cg_root.
cgroup_require_or_skip() {
  [[ $EUID -eq 0 ]] || { echo "SKIP: needs root to create memory cgroups"; exit 77; }
  cgroup_find_memory ||
    { echo "SKIP: no cgroup memory controller (neither v1 'memory' nor v2 with 'memory')"; exit 77; }
  local probe="$cg_root/swapmoe-cgtest-probe-$$"
  mkdir "$probe" 2>/dev/null || { echo "SKIP: cannot create a cgroup under $cg_root"; exit 77; }
  rmdir "$probe"
}

# The cgroup tests' model: a 2-layer OLMoE-size q8_0 model (~1.1 GB), by default beside the
# repository in ../models-big. Made with `swapmoe synth` when the file is missing (written to
# a .part file first, so that an interrupted synth leaves no half model behind).
cgroup_default_model() {  # REPO
  echo "$(dirname "$1")/models-big/olmoe-2l-q8.gguf"
}
cgroup_make_model() {  # SWAPMOE_BIN MODEL
  local bin="$1" model="$2"
  [[ -f "$model" ]] && return 0
  echo "making $model (swapmoe synth --preset olmoe-1b-7b --type q8_0 --layers 2)"
  mkdir -p "$(dirname "$model")"
  "$bin" synth --preset olmoe-1b-7b --type q8_0 --layers 2 -o "$model.part" >/dev/null
  mv "$model.part" "$model"
}
