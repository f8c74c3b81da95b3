// StringNormalizer (opset 10): drops stop words, then lower- or upper-cases
// what is left.
//
// The input is [C] or [1, C]. Stop words match exactly when
// is_case_sensitive=1, otherwise after lower-casing both sides. When every
// element is dropped the output is a single empty string ([1] or [1, 1]).
// Case conversion is UTF-8 aware (util/string_case.h); `locale` only
// changes it for Turkic locales (tr, az). Any locale name is accepted:
// the mapping is otherwise locale independent.
#include <algorithm>
#include <string>
#include <unordered_set>
#include <vector>

#include "kernels/kernel.h"
#include "kernels/util/parallel.h"
#include "kernels/util/string_case.h"

namespace pier::kernels {

namespace {

enum class CaseAction { kNone, kLower, kUpper };

class StringNormalizerKernel final : public OpKernel {
 public:
  explicit StringNormalizerKernel(const KernelInit& init) {
    const auto& n = init.node;
    const std::string action = n.attr_string("case_change_action", "NONE");
    if (action == "LOWER") action_ = CaseAction::kLower;
    else if (action == "UPPER") action_ = CaseAction::kUpper;
    else if (action != "NONE")
      throw Error(ErrorCode::kInvalidModel,
                  "StringNormalizer case_change_action must be LOWER, UPPER or NONE, got \"" + action + "\"");
    case_sensitive_ = n.attr_int("is_case_sensitive", 0) != 0;
    turkic_ = strcase::is_turkic_locale(n.attr_string("locale", "en_US"));
    for (const std::string& w : n.attr_strings("stopwords"))
      stopwords_.insert(case_sensitive_ ? w : strcase::utf8_lower(w, turkic_));
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.dtype() != DataType::kString)
      throw Error(ErrorCode::kInvalidArgument,
                  std::string("StringNormalizer: input must be string, got ") + dtype_name(x.dtype()));
    if (!(x.rank() == 1 || (x.rank() == 2 && x.dim(0) == 1)))
      throw Error(ErrorCode::kInvalidArgument,
                  "StringNormalizer: input must have shape [C] or [1, C], got " + shape_str(x.shape()));
    const std::string* px = x.data<std::string>();
    const int64_t n = x.numel();
    std::vector<int64_t> keep;
    keep.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      if (!stopwords_.empty()) {
        const bool stop = case_sensitive_ ? stopwords_.count(px[i]) > 0
                                          : stopwords_.count(strcase::utf8_lower(px[i], turkic_)) > 0;
        if (stop) continue;
      }
      keep.push_back(i);
    }
    const int64_t m = static_cast<int64_t>(keep.size());
    Shape shape = x.rank() == 1 ? Shape{std::max<int64_t>(m, 1)} : Shape{1, std::max<int64_t>(m, 1)};
    Tensor& y = ctx.allocate(0, DataType::kString, shape);
    std::string* py = y.data<std::string>();
    if (m == 0) {
      py[0].clear();
      return;
    }
    parallel_for(ctx.threads(), m, 1024, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const std::string& s = px[keep[i]];
        switch (action_) {
          case CaseAction::kNone: py[i] = s; break;
          case CaseAction::kLower: py[i] = strcase::utf8_lower(s, turkic_); break;
          case CaseAction::kUpper: py[i] = strcase::utf8_upper(s, turkic_); break;
        }
      }
    });
  }

 private:
  CaseAction action_ = CaseAction::kNone;
  bool case_sensitive_ = false;
  bool turkic_ = false;
  std::unordered_set<std::string> stopwords_;
};

}  // namespace

void register_kernels_string_string_normalizer(KernelRegistry& r) {
  r.add("", "StringNormalizer", 10, kOpenEnded, make_factory<StringNormalizerKernel>());
}

}  // namespace pier::kernels
