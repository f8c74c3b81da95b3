#include "packaging/elf.h"

#include <elf.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace pier::pkg {

namespace {

std::string machine_name(uint16_t m) {
  switch (m) {
    case EM_X86_64: return "amd64";
    case EM_AARCH64: return "arm64";
    case EM_386: return "386";
    case EM_ARM: return "arm";
    case EM_PPC64: return "ppc64le";
    case EM_S390: return "s390x";
    case EM_RISCV: return "riscv64";
    default: return "unknown";
  }
}

template <typename Ehdr, typename Phdr>
ElfInfo parse(std::ifstream& f, const std::string& path) {
  Ehdr eh{};
  f.seekg(0);
  if (!f.read(reinterpret_cast<char*>(&eh), sizeof eh)) throw std::runtime_error(path + ": truncated ELF header");
  if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) throw std::runtime_error(path + ": not an ELF executable");
  ElfInfo info;
  info.machine = machine_name(eh.e_machine);
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Phdr ph{};
    f.seekg(static_cast<std::streamoff>(eh.e_phoff + uint64_t{i} * eh.e_phentsize));
    if (!f.read(reinterpret_cast<char*>(&ph), sizeof ph)) throw std::runtime_error(path + ": truncated program headers");
    if (ph.p_type != PT_INTERP) continue;
    if (ph.p_filesz == 0 || ph.p_filesz > 4096) throw std::runtime_error(path + ": bad PT_INTERP");
    std::string interp(static_cast<size_t>(ph.p_filesz), '\0');
    f.seekg(static_cast<std::streamoff>(ph.p_offset));
    if (!f.read(interp.data(), static_cast<std::streamsize>(interp.size())))
      throw std::runtime_error(path + ": truncated PT_INTERP");
    info.interpreter = interp.c_str();  // up to the NUL
  }
  return info;
}

// Runs argv with stdout captured; stderr is passed through. Returns the
// exit status (or -1 when it could not run).
int run_capture(const std::vector<std::string>& argv, std::string& out) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The environment as it is, less LD_PRELOAD (which would add libraries
  // the binary does not need).
  std::vector<char*> env;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "LD_PRELOAD=", 11) != 0) env.push_back(*e);
  env.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return -1;
  }
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

ElfInfo read_elf(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(path + ": " + std::strerror(errno));
  unsigned char ident[EI_NIDENT] = {};
  if (!f.read(reinterpret_cast<char*>(ident), EI_NIDENT) || std::memcmp(ident, ELFMAG, SELFMAG) != 0)
    throw std::runtime_error(path + ": not an ELF file");
  if (ident[EI_DATA] != ELFDATA2LSB) throw std::runtime_error(path + ": only little-endian ELF files are supported");
  if (ident[EI_CLASS] == ELFCLASS64) return parse<Elf64_Ehdr, Elf64_Phdr>(f, path);
  if (ident[EI_CLASS] == ELFCLASS32) return parse<Elf32_Ehdr, Elf32_Phdr>(f, path);
  throw std::runtime_error(path + ": unknown ELF class");
}

Dependencies find_dependencies(const std::string& binary) {
  Dependencies d;
  d.interpreter = read_elf(binary).interpreter;
  if (d.interpreter.empty()) return d;  // static: nothing to load
  std::string out;
  const int rc = run_capture({d.interpreter, "--list", binary}, out);
  std::vector<std::string> missing;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    // "\tlibfoo.so.1 => /lib/x/libfoo.so.1 (0x...)", "\t/lib64/ld-linux-x86-64.so.2 (0x...)",
    // "\tlinux-vdso.so.1 (0x...)", "\tlibbar.so.2 => not found"
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos) continue;
    line = line.substr(start);
    const size_t arrow = line.find(" => ");
    std::string path;
    if (arrow != std::string::npos) {
      path = line.substr(arrow + 4);
      if (path.rfind("not found", 0) == 0) {
        missing.push_back(line.substr(0, arrow));
        continue;
      }
    } else {
      path = line;
    }
    const size_t addr = path.rfind(" (0x");
    if (addr != std::string::npos) path.resize(addr);
    if (path.empty() || path.front() != '/') continue;  // the vDSO lives in the kernel
    if (path == d.interpreter) continue;
    d.libraries.push_back(path);
  }
  if (!missing.empty()) {
    std::string names;
    for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
    throw std::runtime_error(binary + " needs shared libraries that cannot be found: " + names);
  }
  if (rc != 0) throw std::runtime_error("cannot list the shared libraries of " + binary + " (" + d.interpreter + " --list failed)");
  // The loader's default folders ("  /lib/x86_64-linux-gnu (system search path)").
  std::string help;
  if (run_capture({d.interpreter, "--help"}, help) == 0) {
    std::istringstream hl(help);
    for (std::string line; std::getline(hl, line);) {
      const size_t tag = line.find(" (system search path)");
      if (tag == std::string::npos) continue;
      const size_t s = line.find('/');
      if (s != std::string::npos && s < tag) d.system_dirs.push_back(line.substr(s, tag - s));
    }
  }
  if (d.system_dirs.empty()) d.system_dirs = {"/lib", "/usr/lib", "/lib64", "/usr/lib64"};
  return d;
}

}  // namespace pier::pkg
