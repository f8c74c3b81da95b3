// pier model: register, list, show, download, tag, alias and delete models
// in the workspace's registry.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/ws_common.h"
#include "workspace/error.h"

namespace pier::cli {

namespace {

struct ModelArgs {
  std::string workspace;
  // register
  std::string path, name, description;
  std::vector<std::string> tags, properties;
  // list
  std::string filter_name;
  std::vector<std::string> filter_tags;
  // show, download, tag, delete
  std::string ref, output;
  std::vector<std::string> set_tags, remove_tags;
  // alias
  std::string alias_name, alias;
  int64_t alias_version = 0;
  bool alias_remove = false;
  bool json = false;
};

int register_command(const ModelArgs& a) {
  ws::RegisterRequest req;
  req.name = a.name;
  req.description = a.description;
  for (const auto& t : a.tags) {
    auto [k, v] = ws::parse_tag(t);
    req.tags[k] = v;
  }
  for (const auto& p : a.properties) {
    auto [k, v] = ws::parse_property(p);
    req.properties[k] = v;
  }
  ws::validate_name(req.name, "model name");
  auto reg = open_registry(a.workspace);
  const ws::ModelRecord r = reg->register_file(a.path, req);
  for (const auto& w : r.warnings) std::fprintf(stderr, "pier: warning: %s\n", w.c_str());
  if (a.json) {
    std::printf("%s\n", ws::record_json(r).c_str());
  } else {
    std::printf("registered %s:%lld\n", r.name.c_str(), static_cast<long long>(r.version));
    print_record(r);
  }
  return 0;
}

int list_command(const ModelArgs& a) {
  ws::ListFilter f;
  f.name = a.filter_name;
  for (const auto& t : a.filter_tags) {
    const size_t eq = t.find('=');
    ws::TagFilter tf;
    tf.key = t.substr(0, eq);
    if (eq != std::string::npos) tf.value = t.substr(eq + 1);
    f.tags.push_back(std::move(tf));
  }
  auto reg = open_registry(a.workspace);
  const auto list = reg->list(f);
  if (a.json) {
    std::printf("%s\n", ws::records_json(list).c_str());
    return 0;
  }
  if (list.empty()) {
    std::printf("no models\n");
    return 0;
  }
  std::printf("%-24s %7s %12s  %-24s %-20s %s\n", "NAME", "VERSION", "SIZE", "CREATED", "ALIASES", "TAGS");
  for (const auto& r : list) {
    std::string aliases, tags;
    for (const auto& x : r.aliases) aliases += (aliases.empty() ? "" : ",") + x;
    for (const auto& [k, v] : r.tags) tags += (tags.empty() ? "" : ",") + k + (v.empty() ? "" : "=" + v);
    std::printf("%-24s %7lld %12lld  %-24s %-20s %s\n", r.name.c_str(), static_cast<long long>(r.version),
                static_cast<long long>(r.size), r.created.c_str(), aliases.empty() ? "-" : aliases.c_str(),
                tags.empty() ? "-" : tags.c_str());
  }
  return 0;
}

int show_command(const ModelArgs& a) {
  const ws::ModelRef ref = ws::parse_ref(a.ref);
  auto reg = open_registry(a.workspace);
  const ws::ModelRecord r = reg->get(ref);
  if (a.json) std::printf("%s\n", ws::record_json(r).c_str());
  else print_record(r);
  return 0;
}

int download_command(const ModelArgs& a) {
  const ws::ModelRef ref = ws::parse_ref(a.ref);
  auto reg = open_registry(a.workspace);
  const ws::ModelRecord r = reg->get(ref);
  if (a.output == "-") {
    reg->read_blob(r, [](const char* p, size_t n) {
      if (std::fwrite(p, 1, n, stdout) != n) throw ws::Error(ws::ErrorKind::kIO, "writing to stdout failed");
    });
    if (std::fflush(stdout) != 0) throw ws::Error(ws::ErrorKind::kIO, "writing to stdout failed");
    return 0;
  }
  const auto path = reg->download(r, a.output);
  std::printf("wrote %s (%s:%lld, %lld bytes, sha256 %s)\n", path.c_str(), r.name.c_str(),
              static_cast<long long>(r.version), static_cast<long long>(r.size), r.sha256.c_str());
  return 0;
}

int tag_command(const ModelArgs& a) {
  const ws::ModelRef ref = ws::parse_ref(a.ref);
  if (a.set_tags.empty() && a.remove_tags.empty())
    throw ws::Error(ws::ErrorKind::kInvalidArgument, "nothing to do: give --set KEY=VALUE or --remove KEY");
  std::map<std::string, std::string> set;
  for (const auto& t : a.set_tags) {
    auto [k, v] = ws::parse_tag(t);
    set[k] = v;
  }
  auto reg = open_registry(a.workspace);
  const ws::ModelRecord r = reg->update_tags(ref, set, a.remove_tags, /*must_exist=*/true);
  if (a.json) {
    std::printf("%s\n", ws::record_json(r).c_str());
  } else {
    std::printf("%s:%lld tags:", r.name.c_str(), static_cast<long long>(r.version));
    if (r.tags.empty()) std::printf(" -");
    for (const auto& [k, v] : r.tags) std::printf(" %s%s%s", k.c_str(), v.empty() ? "" : "=", v.c_str());
    std::printf("\n");
  }
  return 0;
}

int alias_command(const ModelArgs& a) {
  ws::validate_name(a.alias_name, "model name");
  ws::validate_alias(a.alias);
  auto reg = open_registry(a.workspace);
  if (a.alias_remove) {
    if (a.alias_version) throw ws::Error(ws::ErrorKind::kInvalidArgument, "--remove takes no VERSION");
    const int64_t v = reg->remove_alias(a.alias_name, a.alias);
    std::printf("removed alias %s@%s (was version %lld)\n", a.alias_name.c_str(), a.alias.c_str(), static_cast<long long>(v));
    return 0;
  }
  if (a.alias_version < 1) throw ws::Error(ws::ErrorKind::kInvalidArgument, "give the VERSION the alias points at");
  const auto before = reg->set_alias(a.alias_name, a.alias, a.alias_version);
  std::printf("%s@%s -> %lld", a.alias_name.c_str(), a.alias.c_str(), static_cast<long long>(a.alias_version));
  if (before && *before != a.alias_version) std::printf(" (was %lld)", static_cast<long long>(*before));
  std::printf("\n");
  return 0;
}

int delete_command(const ModelArgs& a) {
  const ws::ModelRef ref = ws::parse_ref(a.ref);
  auto reg = open_registry(a.workspace);
  const ws::DeleteResult d = reg->remove(ref);
  std::printf("deleted %s", d.name.c_str());
  if (d.versions.empty()) std::printf(" (it had no versions)");
  for (size_t i = 0; i < d.versions.size(); ++i)
    std::printf("%s%lld", i ? ", " : " version ", static_cast<long long>(d.versions[i]));
  std::printf("; %zu stored file%s removed\n", d.blobs_removed.size(), d.blobs_removed.size() == 1 ? "" : "s");
  return 0;
}

}  // namespace

void add_model_command(CLI::App& app, CommandRunner& runner) {
  auto a = std::make_shared<ModelArgs>();
  auto* model = app.add_subcommand("model", "Model registry: register, list, show, download, tag, alias, delete");
  model->require_subcommand(1);
  add_workspace_flag(model, a->workspace);
  auto use = [&runner, a](int (*fn)(const ModelArgs&)) {
    return [&runner, a, fn] { runner.set([a, fn] { return ws_guard([&] { return fn(*a); }); }); };
  };
  auto sub = [&](const char* name, const char* help) {
    auto* c = model->add_subcommand(name, help);
    c->fallthrough();  // --workspace may follow the verb
    return c;
  };
  const char* ref_help = "NAME (latest version), NAME:VERSION or NAME@ALIAS";

  auto* reg = sub("register", "Validate a model and store it as the next version of NAME");
  reg->add_option("path", a->path, "ONNX model file (a single file: external data is not supported)")->required();
  reg->add_option("--name", a->name, "Model name: ASCII letters, digits, '-', '_', '.'; 1-255 characters")->required();
  reg->add_option("--tag", a->tags, "Tag KEY or KEY=VALUE (repeatable)");
  reg->add_option("--property", a->properties, "Property KEY=VALUE (repeatable; fixed once registered)");
  reg->add_option("--description", a->description, "Free text");
  reg->add_flag("--json", a->json, "Print the record as JSON");
  reg->callback(use(register_command));

  auto* list = sub("list", "List model versions");
  list->add_option("--name", a->filter_name, "Only this model");
  list->add_option("--tag", a->filter_tags, "Only versions with tag KEY, or KEY=VALUE (repeatable: all must match)");
  list->add_flag("--json", a->json, "Print a JSON array of records");
  list->callback(use(list_command));

  auto* show = sub("show", "Show one version (the latest when none is given)");
  show->add_option("model", a->ref, ref_help)->required();
  show->add_flag("--json", a->json, "Print the record as JSON");
  show->callback(use(show_command));

  auto* dl = sub("download", "Write a stored model, byte for byte as registered");
  dl->add_option("model", a->ref, ref_help)->required();
  dl->add_option("-o,--output", a->output, "Output file, a folder (gets NAME-VERSION.onnx) or - for stdout")->required();
  dl->callback(use(download_command));

  auto* tag = sub("tag", "Set or remove tags of one version");
  tag->add_option("model", a->ref, "NAME:VERSION or NAME@ALIAS")->required();
  tag->add_option("--set", a->set_tags, "Set tag KEY=VALUE (or KEY with an empty value; repeatable)");
  tag->add_option("--remove", a->remove_tags, "Remove tag KEY (repeatable)");
  tag->add_flag("--json", a->json, "Print the updated record as JSON");
  tag->callback(use(tag_command));

  auto* alias = sub("alias", "Point ALIAS at VERSION of NAME (usable as NAME@ALIAS), or remove it");
  alias->add_option("name", a->alias_name, "Model name")->required();
  alias->add_option("alias", a->alias, "Alias, e.g. production (name rules; not all digits)")->required();
  alias->add_option("version", a->alias_version, "Version the alias points at");
  alias->add_flag("--remove", a->alias_remove, "Remove the alias instead");
  alias->callback(use(alias_command));

  auto* del = sub("delete", "Delete a version, or a model with all its versions; unused files are removed");
  del->add_option("model", a->ref, "NAME (every version), NAME:VERSION or NAME@ALIAS")->required();
  del->callback(use(delete_command));
}

}  // namespace pier::cli
