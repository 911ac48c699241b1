# Cross build for arm64 Linux with Debian's g++-aarch64-linux-gnu (the arm64 preset); the tests
# run under qemu-user. The compiler's own sysroot (/usr/aarch64-linux-gnu: libc, libstdc++)
# comes with the cross compiler; the libraries the tests link (fmt, pcre2, googletest) are
# Debian's arm64 packages unpacked into SWAPMOE_ARM64_SYSROOT by scripts/test-arm64, so the
# host's packages are left as they are.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

if(NOT SWAPMOE_ARM64_SYSROOT)
  message(FATAL_ERROR "[arm64] SWAPMOE_ARM64_SYSROOT is not set; use the arm64 preset (scripts/test-arm64)")
endif()
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES SWAPMOE_ARM64_SYSROOT)  # try_compile re-reads this file
# Packages and libraries from the unpacked arm64 packages only; programs (pkg-config, nm) from the
# host. Headers-only packages (nlohmann-json, CLI11) are the host's: they are the same on every
# architecture.
set(CMAKE_FIND_ROOT_PATH "${SWAPMOE_ARM64_SYSROOT}" /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${SWAPMOE_ARM64_SYSROOT}")
set(ENV{PKG_CONFIG_LIBDIR} "${SWAPMOE_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig")

# ctest (and gtest_discover_tests at build time) run the test binaries under qemu-user.
find_program(SWAPMOE_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR "${SWAPMOE_QEMU_AARCH64};-L;/usr/aarch64-linux-gnu")
