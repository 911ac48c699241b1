# `cmake --install build` and `cpack --config build/CPackConfig.cmake` (a Debian package):
# the swapmoe binary, its man page (made from its own --help) and the shipped default model,
# which an installed swapmoe finds beside itself (../share/swapmoe/models).
include(GNUInstallDirs)

install(TARGETS swapmoe RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(EXISTS ${SWAPMOE_MODELS_DIR}/shakespeare-moe.gguf)
  install(FILES ${SWAPMOE_MODELS_DIR}/shakespeare-moe.gguf ${SWAPMOE_MODELS_DIR}/shakespeare-moe.md
          DESTINATION ${CMAKE_INSTALL_DATADIR}/swapmoe/models OPTIONAL)
endif()

set(SWAPMOE_MANPAGE ${CMAKE_BINARY_DIR}/swapmoe.1)
add_custom_command(
  OUTPUT ${SWAPMOE_MANPAGE}
  COMMAND ${CMAKE_COMMAND} -DSWAPMOE=$<TARGET_FILE:swapmoe> -DOUT=${SWAPMOE_MANPAGE} -DVERSION=${PROJECT_VERSION}
          -P ${CMAKE_CURRENT_LIST_DIR}/manpage.cmake
  DEPENDS swapmoe ${CMAKE_CURRENT_LIST_DIR}/manpage.cmake
  COMMENT "Writing the swapmoe(1) man page from --help")
add_custom_target(swapmoe_manpage ALL DEPENDS ${SWAPMOE_MANPAGE})
install(FILES ${SWAPMOE_MANPAGE} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME swapmoe)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "swapmoe developers <swapmoe@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "serve Mixture-of-Experts models under a memory budget (SwapMoE)")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # dependencies from the libraries the binary links
set(CPACK_STRIP_FILES ON)
include(CPack)

if(SWAPMOE_BUILD_TESTS)
  add_test(NAME install_tree COMMAND ${CMAKE_COMMAND} -DBUILD=${CMAKE_BINARY_DIR}
           -DPREFIX=${CMAKE_BINARY_DIR}/install-test -DMODELS=${SWAPMOE_MODELS_DIR} -P ${CMAKE_CURRENT_LIST_DIR}/install_test.cmake)
endif()
