// What an executable needs at run time: its dynamic loader (PT_INTERP, read
// from the ELF file) and the shared libraries the loader resolves for it
// (`LOADER --list BINARY`, which is what ldd runs: the loader's own search
// through RPATH, LD_LIBRARY_PATH, RUNPATH, ld.so.cache and its default
// folders, so the answer is exactly what a run of the binary would load).
#pragma once

#include <string>
#include <vector>

namespace pier::pkg {

struct ElfInfo {
  std::string machine;      // OCI architecture name: "amd64", "arm64", ...
  std::string interpreter;  // "" for a static executable
};

// Reads the ELF header and program headers. Throws for a file that is not
// an ELF executable.
ElfInfo read_elf(const std::string& path);

struct Dependencies {
  std::string interpreter;                  // as the binary names it ("" when static)
  std::vector<std::string> libraries;       // resolved host paths, in the loader's order
  std::vector<std::string> system_dirs;     // the loader's default search folders
};

// Runs the binary's loader with --list. Throws with the missing names when
// a library is not found.
Dependencies find_dependencies(const std::string& binary);

}  // namespace pier::pkg
