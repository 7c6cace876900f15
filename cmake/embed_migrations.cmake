# Generates the C table of schema migrations, so a binary can apply them with no source
# tree at hand (a container holds only the binary). Run in script mode:
#
#   cmake -DMIGRATION_FILES=<a.sql|b.sql|...> -DOUTPUT=<file.c> -P embed_migrations.cmake
#
# The file list is passed rather than globbed here so that the command line changes when a
# file is added or removed, which makes the build tool run this script again; edits to a
# file re-run it through the custom command's DEPENDS.
#
# Each file is named NNNN_name.sql (four digits, then lower-case words joined by '_').
# The SQL is written as hex escapes, which needs no quoting rules and keeps every byte as
# it is, so the checksum taken here is the checksum of what the binary applies.

cmake_minimum_required(VERSION 3.20)

if(NOT DEFINED OUTPUT OR NOT DEFINED MIGRATION_FILES)
  message(FATAL_ERROR "embed_migrations: OUTPUT and MIGRATION_FILES are required")
endif()

string(REPLACE "|" ";" files "${MIGRATION_FILES}")
list(SORT files)

set(definitions "")
set(rows "")
set(seen_versions "")
foreach(path IN LISTS files)
  if(path STREQUAL "")
    continue()
  endif()
  get_filename_component(base "${path}" NAME)
  if(NOT base MATCHES "^([0-9][0-9][0-9][0-9])_([a-z0-9_]+)\\.sql$")
    message(FATAL_ERROR "embed_migrations: ${base}: not named NNNN_name.sql")
  endif()
  set(digits "${CMAKE_MATCH_1}")
  set(name "${CMAKE_MATCH_2}")
  # Leading zeros would read as octal nowhere here, but the table holds plain integers.
  string(REGEX REPLACE "^0+([0-9])" "\\1" version "${digits}")
  if(version IN_LIST seen_versions)
    message(FATAL_ERROR "embed_migrations: version ${digits} is used by two files")
  endif()
  list(APPEND seen_versions "${version}")

  file(SHA256 "${path}" checksum)
  file(READ "${path}" hex HEX)
  string(LENGTH "${hex}" hex_length)
  if(hex_length EQUAL 0)
    message(FATAL_ERROR "embed_migrations: ${base} is empty")
  endif()
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" escaped "${hex}")
  # Every escape is four characters starting with a backslash, so a match is aligned.
  string(FIND "${escaped}" "\\x00" nul_at)
  if(NOT nul_at EQUAL -1)
    message(FATAL_ERROR "embed_migrations: ${base} contains a NUL byte")
  endif()

  set(literal "")
  string(LENGTH "${escaped}" escaped_length)
  set(offset 0)
  while(offset LESS escaped_length)
    string(SUBSTRING "${escaped}" ${offset} 128 chunk)
    string(APPEND literal "\n    \"${chunk}\"")
    math(EXPR offset "${offset} + 128")
  endwhile()

  string(APPEND definitions "\n/* ${base} */\nstatic const char migrate_sql_${digits}[] =${literal};\n")
  string(APPEND rows "    {${version}, \"${name}\", \"${checksum}\", migrate_sql_${digits}},\n")
endforeach()

if(rows STREQUAL "")
  message(FATAL_ERROR "embed_migrations: no migrations found")
endif()

set(text "/* Generated from schemas/migrations by cmake/embed_migrations.cmake: do not edit. */
#include \"migrate.h\"
${definitions}
static const migrate_script_t migrate_list[] = {
${rows}};

const migrate_script_t *migrate_scripts(size_t *count)
{
    *count = sizeof(migrate_list) / sizeof(migrate_list[0]);
    return migrate_list;
}
")

# Rewriting an unchanged file would only recompile it.
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" previous)
  if(previous STREQUAL text)
    return()
  endif()
endif()
file(WRITE "${OUTPUT}" "${text}")
