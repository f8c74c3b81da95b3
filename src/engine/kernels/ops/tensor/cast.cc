// Cast and CastLike between every pair of numeric, bool and string types.
//  - float -> integer truncates toward zero; NaN and out-of-range values
//    give the x86 "indefinite" pattern (no undefined behaviour);
//  - number -> string writes the shortest text that reads back to the same
//    value, numpy style ("0.5", "1e-05", "100000.0"); NaN/Inf as "NaN",
//    "INF", "-INF"; bool as "True"/"False";
//  - string -> number parses the whole string ("NaN", "INF", "+INF", "-INF"
//    and "1e3" style accepted) and raises kInvalidArgument otherwise.
#include <cctype>
#include <charconv>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <type_traits>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/parallel.h"

namespace pier::kernels {

namespace {

template <typename T>
constexpr bool is_half_v = std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>;

template <typename To>
To float_to_int(double d) {
  if constexpr (std::is_same_v<To, int64_t>) {
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0) return static_cast<int64_t>(d);
    return std::numeric_limits<int64_t>::min();
  } else if constexpr (std::is_same_v<To, uint64_t>) {
    if (d >= 9223372036854775808.0 && d < 18446744073709551616.0) return static_cast<uint64_t>(d);
    if (d > -9223372036854775808.0 && d < 9223372036854775808.0)
      return static_cast<uint64_t>(static_cast<int64_t>(d));
    return uint64_t{1} << 63;
  } else if constexpr (std::is_same_v<To, uint32_t>) {
    return static_cast<uint32_t>(float_to_int<int64_t>(d));
  } else {  // int32 and narrower: through int32, then keep the low bits
    int32_t v = std::numeric_limits<int32_t>::min();
    if (d > -2147483649.0 && d < 2147483648.0) v = static_cast<int32_t>(d);
    return static_cast<To>(v);
  }
}

template <typename To, typename From>
To convert(From v) {
  if constexpr (is_half_v<From>) {
    return convert<To>(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, bool>) {
    return v != From{};
  } else if constexpr (is_half_v<To>) {
    return To(static_cast<float>(v));
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    return float_to_int<To>(static_cast<double>(v));
  } else {
    return static_cast<To>(v);
  }
}

// ---- number -> string ----

// Shortest round-trip digits of v as (digits, decimal exponent): the value
// is 0.d1d2d3... * 10^(exp+1), i.e. d1.d2d3... * 10^exp.
template <typename T>
void shortest_digits(T v, std::string& digits, int& exp) {
  char buf[64];
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    *res.ptr = 0;
  } else {  // half types: the fewest significant digits that read back exactly
    const float f = static_cast<float>(v);
    for (int p = 1; p <= 9; ++p) {
      std::snprintf(buf, sizeof buf, "%.*e", p - 1, static_cast<double>(f));
      if (T(std::strtof(buf, nullptr)).bits == v.bits) break;
    }
  }
  // buf is "d[.ddd]e[+-]xx"
  const char* e = std::strchr(buf, 'e');
  digits.clear();
  for (const char* c = buf; c < e; ++c)
    if (*c >= '0' && *c <= '9') digits.push_back(*c);
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  exp = std::atoi(e + 1);
}

template <typename T>
std::string float_to_string(T v) {
  const double d = static_cast<double>(static_cast<std::conditional_t<is_half_v<T>, float, T>>(v));
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d < 0 ? "-INF" : "INF";
  std::string out = std::signbit(d) ? "-" : "";
  if (d == 0) return out + "0.0";
  std::string digits;
  int exp = 0;
  shortest_digits(v, digits, exp);  // digits only; the sign is written above
  if (exp >= -4 && exp < 16) {  // positional
    if (exp < 0) {
      out.append("0.").append(static_cast<size_t>(-exp - 1), '0').append(digits);
    } else if (static_cast<int>(digits.size()) <= exp + 1) {
      out.append(digits).append(exp + 1 - digits.size(), '0').append(".0");
    } else {
      out.append(digits, 0, exp + 1).push_back('.');
      out.append(digits, exp + 1);
    }
  } else {
    out.push_back(digits[0]);
    if (digits.size() > 1) {
      out.push_back('.');
      out.append(digits, 1);
    }
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out += eb;
  }
  return out;
}

template <typename From>
std::string to_string_value(From v) {
  if constexpr (std::is_same_v<From, bool>) {
    return v ? "True" : "False";
  } else if constexpr (std::is_floating_point_v<From> || is_half_v<From>) {
    return float_to_string<From>(v);
  } else {
    return std::to_string(v);
  }
}

// ---- string -> number ----

[[noreturn]] void bad_string(const std::string& s, DataType to) {
  throw Error(ErrorCode::kInvalidArgument, "Cast: cannot convert string \"" + s + "\" to " + dtype_name(to));
}

double parse_double(const std::string& s, DataType to) {
  const char* b = s.c_str();
  char* end = nullptr;
  const double d = std::strtod(b, &end);
  if (end == b) bad_string(s, to);
  while (*end == ' ' || *end == '\t') ++end;
  if (*end != 0) bad_string(s, to);
  return d;
}

template <typename To>
To from_string_value(const std::string& s) {
  constexpr DataType to = DataTypeOf<To>::value;
  if constexpr (std::is_same_v<To, bool>) {
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
    return parse_double(s, to) != 0;
  } else if constexpr (std::is_integral_v<To>) {
    const char* b = s.data();
    const char* e = b + s.size();
    if (b < e && *b == '+') ++b;
    To v{};
    auto res = std::from_chars(b, e, v);
    if (res.ec == std::errc() && res.ptr == e) return v;
    return convert<To>(parse_double(s, to));
  } else {
    return convert<To>(parse_double(s, to));
  }
}

template <typename F>
decltype(auto) dispatch_castable(DataType t, F&& fn) {
  if (t == DataType::kBool) return fn(bool{});
  return dispatch_numeric(t, std::forward<F>(fn));
}

void cast_into(const Tensor& x, Tensor& y, int threads) {
  const DataType from = x.dtype(), to = y.dtype();
  const int64_t n = x.numel();
  const int64_t grain = (from == DataType::kString || to == DataType::kString) ? 1024 : 65536;
  if (from == DataType::kString && to == DataType::kString) {
    for (int64_t i = 0; i < n; ++i) y.data<std::string>()[i] = x.data<std::string>()[i];
    return;
  }
  if (from == DataType::kString) {
    const std::string* src = x.data<std::string>();
    dispatch_castable(to, [&](auto ttag) {
      using T = decltype(ttag);
      T* dst = static_cast<T*>(y.raw());
      parallel_for(threads, n, grain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) dst[i] = from_string_value<T>(src[i]);
      });
    });
    return;
  }
  if (to == DataType::kString) {
    std::string* dst = y.data<std::string>();
    dispatch_castable(from, [&](auto ftag) {
      using F = decltype(ftag);
      const F* src = static_cast<const F*>(x.raw());
      parallel_for(threads, n, grain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) dst[i] = to_string_value<F>(src[i]);
      });
    });
    return;
  }
  dispatch_castable(from, [&](auto ftag) {
    using F = decltype(ftag);
    dispatch_castable(to, [&](auto ttag) {
      using T = decltype(ttag);
      const F* src = static_cast<const F*>(x.raw());
      T* dst = static_cast<T*>(y.raw());
      parallel_for(threads, n, grain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) dst[i] = convert<T>(src[i]);
      });
    });
  });
}

void check_castable(DataType t) {
  if (t == DataType::kUndefined || t == DataType::kComplex64 || t == DataType::kComplex128)
    throw Error(ErrorCode::kUnsupported, std::string("Cast does not support type ") + dtype_name(t));
}

// Type named by Cast's 'to' attribute: an int (opset 6+) or, in opset 1, a
// string such as "FLOAT".
DataType parse_to(const ir::Node& node) {
  const ir::Attribute* a = node.find_attr("to");
  if (!a) throw Error(ErrorCode::kInvalidModel, "Cast: attribute 'to' is required");
  if (a->type == ir::Attribute::Type::kString) {
    std::string s;
    for (char c : a->s) s.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    auto t = dtype_from_name(s);
    if (!t) throw Error(ErrorCode::kInvalidModel, "Cast: unknown type \"" + a->s + "\"");
    return *t;
  }
  const int64_t v = node.attr_int("to", 0);
  if (v < 1 || v > 16) throw Error(ErrorCode::kInvalidModel, "Cast: invalid type " + std::to_string(v));
  return static_cast<DataType>(v);
}

class CastKernel final : public OpKernel {
 public:
  explicit CastKernel(const KernelInit& init) {
    like_ = init.node.op_type == "CastLike";
    if (!like_) {
      to_ = parse_to(init.node);
      check_castable(to_);
    }
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const DataType to = like_ ? ctx.input(1).dtype() : to_;
    check_castable(x.dtype());
    check_castable(to);
    if (x.dtype() == to) {
      ctx.set_output(0, x);
      return;
    }
    Tensor& y = ctx.allocate(0, to, x.shape());
    cast_into(x, y, ctx.threads());
  }

 private:
  bool like_ = false;
  DataType to_ = DataType::kUndefined;
};

}  // namespace

void register_kernels_tensor_cast(KernelRegistry& r) {
  r.add("", "Cast", 1, 5, make_factory<CastKernel>());
  r.add("", "Cast", 6, 8, make_factory<CastKernel>());
  r.add("", "Cast", 9, 12, make_factory<CastKernel>());
  r.add("", "Cast", 13, kOpenEnded, make_factory<CastKernel>());
  r.add("", "CastLike", 15, kOpenEnded, make_factory<CastKernel>());
}

}  // namespace pier::kernels
