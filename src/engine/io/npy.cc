#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "pier/tensor_io.h"

namespace pier {

namespace {

[[noreturn]] void bad(const std::string& label, const std::string& why) {
  throw Error(ErrorCode::kInvalidArgument, label + ": " + why);
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorCode::kIO, path + ": cannot open");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Finds `'key': value` in the header dict and returns the raw value text.
// A key given twice takes its last value, as in the Python dict numpy
// reads the header into.
std::string dict_value(const std::string& header, const std::string& key, const std::string& label) {
  size_t k = header.rfind("'" + key + "'");
  const size_t k2 = header.rfind("\"" + key + "\"");
  if (k2 != std::string::npos && (k == std::string::npos || k2 > k)) k = k2;
  if (k == std::string::npos) bad(label, "npy header lacks '" + key + "'");
  size_t colon = header.find(':', k);
  if (colon == std::string::npos) bad(label, "malformed npy header");
  size_t start = header.find_first_not_of(" ", colon + 1);
  if (start == std::string::npos) bad(label, "malformed npy header");
  size_t end;
  if (header[start] == '(') {
    end = header.find(')', start);
    if (end == std::string::npos) bad(label, "malformed shape in npy header");
    return header.substr(start, end - start + 1);
  }
  if (header[start] == '\'' || header[start] == '"') {
    end = header.find(header[start], start + 1);
    if (end == std::string::npos) bad(label, "malformed npy header");
    return header.substr(start + 1, end - start - 1);
  }
  end = header.find_first_of(",}", start);
  return header.substr(start, end - start);
}

struct Descr {
  DataType dtype = DataType::kUndefined;
  char endian = '<';
  char kind = 0;    // 'U' or 'S' for strings
  size_t item = 0;  // bytes per element in the file
};

Descr parse_descr(const std::string& d, const std::string& label) {
  if (d.size() < 3) bad(label, "unsupported npy dtype '" + d + "'");
  Descr out;
  out.endian = d[0];
  char kind = d[1];
  size_t n = 0;
  try {
    n = std::stoul(d.substr(2));
  } catch (...) {
    bad(label, "unsupported npy dtype '" + d + "'");
  }
  if (n > (size_t{1} << 30)) bad(label, "unsupported npy dtype '" + d + "' (elements too large)");
  out.item = n;
  switch (kind) {
    case 'f':
      out.dtype = n == 2 ? DataType::kFloat16 : n == 4 ? DataType::kFloat : n == 8 ? DataType::kDouble : DataType::kUndefined;
      break;
    case 'i':
      out.dtype = n == 1 ? DataType::kInt8 : n == 2 ? DataType::kInt16 : n == 4 ? DataType::kInt32 : n == 8 ? DataType::kInt64 : DataType::kUndefined;
      break;
    case 'u':
      out.dtype = n == 1 ? DataType::kUInt8 : n == 2 ? DataType::kUInt16 : n == 4 ? DataType::kUInt32 : n == 8 ? DataType::kUInt64 : DataType::kUndefined;
      break;
    case 'b': out.dtype = n == 1 ? DataType::kBool : DataType::kUndefined; break;
    case 'c': out.dtype = n == 8 ? DataType::kComplex64 : n == 16 ? DataType::kComplex128 : DataType::kUndefined; break;
    case 'U':
    case 'S':
      out.dtype = DataType::kString;
      out.kind = kind;
      out.item = kind == 'U' ? n * 4 : n;
      break;
    default: break;
  }
  if (out.dtype == DataType::kUndefined) bad(label, "unsupported npy dtype '" + d + "'");
  return out;
}

Shape parse_shape(const std::string& s, const std::string& label) {
  Shape shape;
  std::string num;
  for (char c : s) {
    if (c >= '0' && c <= '9') {
      num += c;
    } else if (c == ',' || c == ')') {
      if (!num.empty()) {
        // 18 digits always fit int64; larger dims fail the size check anyway.
        if (num.size() > 18) bad(label, "dimension " + num + " in npy header shape " + s + " is too large");
        shape.push_back(std::stoll(num));
        num.clear();
      }
    } else if (c != '(' && c != ' ' && c != 'L') {
      bad(label, "malformed shape " + s + " in npy header");
    }
  }
  return shape;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::vector<uint32_t> utf8_to_codepoints(const std::string& s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    int len;
    if (c < 0x80) { cp = c; len = 1; }
    else if ((c >> 5) == 6) { cp = c & 0x1F; len = 2; }
    else if ((c >> 4) == 14) { cp = c & 0x0F; len = 3; }
    else { cp = c & 0x07; len = 4; }
    for (int k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out.push_back(cp);
    i += len;
  }
  return out;
}

// Reverses the axis order of a C-contiguous buffer holding a Fortran array.
void fortran_to_c(Tensor& t) {
  const Shape& shape = t.shape();
  const int r = t.rank();
  if (r < 2) return;
  Tensor out = Tensor(t.dtype(), shape);
  const size_t es = dtype_size(t.dtype());
  std::vector<int64_t> idx(r, 0);
  for (int64_t f = 0; f < t.numel(); ++f) {
    // f walks the Fortran buffer: first axis fastest.
    int64_t c = 0;
    for (int d = 0; d < r; ++d) c = c * shape[d] + idx[d];
    if (t.dtype() == DataType::kString)
      out.data<std::string>()[c] = t.data<std::string>()[f];
    else
      std::memcpy(static_cast<char*>(out.raw()) + c * es, static_cast<const char*>(t.raw()) + f * es, es);
    for (int d = 0; d < r; ++d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  t = out;
}

}  // namespace

Tensor parse_npy(const std::string& bytes, const std::string& label) {
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) bad(label, "not a .npy file (bad magic)");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, offset;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) bad(label, "truncated npy header");
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    offset = 12;
  } else {
    bad(label, "unsupported npy version " + std::to_string(major));
  }
  if (offset + header_len > bytes.size()) bad(label, "truncated npy header");
  const std::string header = bytes.substr(offset, header_len);
  const std::string descr_s = dict_value(header, "descr", label);
  const bool fortran = dict_value(header, "fortran_order", label).find("True") != std::string::npos;
  const Shape shape = parse_shape(dict_value(header, "shape", label), label);
  const Descr descr = parse_descr(descr_s, label);
  if (descr.item == 0) bad(label, "npy dtype '" + descr_s + "' has zero-sized elements");
  // The data must be there before the tensor is allocated: a header of a
  // few bytes may declare billions of elements.
  const char* data = bytes.data() + offset + header_len;
  const size_t avail = bytes.size() - offset - header_len;
  uint64_t numel = 1;
  for (int64_t d : shape) {
    if (d != 0 && numel > avail / static_cast<uint64_t>(d)) numel = avail + 1;  // saturate: more than the file holds
    else numel *= static_cast<uint64_t>(d);
  }
  if (numel > avail / descr.item)
    bad(label, "npy data is truncated: " + std::to_string(avail) + " bytes for shape " + shape_str(shape) + " of '" +
                   descr_s + "'");
  Tensor t(descr.dtype, shape);
  const size_t need = static_cast<size_t>(t.numel()) * descr.item;
  if (descr.dtype == DataType::kString) {
    auto* out = t.data<std::string>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      const char* p = data + i * descr.item;
      std::string s;
      if (descr.kind == 'S') {
        s.assign(p, strnlen(p, descr.item));
      } else {
        for (size_t k = 0; k < descr.item / 4; ++k) {
          uint32_t cp;
          std::memcpy(&cp, p + 4 * k, 4);
          if (descr.endian == '>') cp = __builtin_bswap32(cp);
          if (cp == 0) break;
          append_utf8(s, cp);
        }
      }
      out[i] = std::move(s);
    }
  } else {
    std::memcpy(t.raw(), data, need);
    if (descr.endian == '>' && descr.item > 1) {
      const size_t word = descr.dtype == DataType::kComplex64 ? 4 : descr.dtype == DataType::kComplex128 ? 8 : descr.item;
      auto* p = static_cast<char*>(t.raw());
      for (size_t i = 0; i < need; i += word) std::reverse(p + i, p + i + word);
    }
  }
  if (fortran) fortran_to_c(t);
  return t;
}

Tensor read_npy(const std::string& path) { return parse_npy(read_all(path), path); }

std::string encode_npy(const Tensor& in) {
  Tensor t = in;
  if (t.dtype() == DataType::kBFloat16) {
    Tensor f(DataType::kFloat, t.shape());
    for (int64_t i = 0; i < t.numel(); ++i) f.data<float>()[i] = static_cast<float>(t.data<BFloat16>()[i]);
    t = f;
  }
  std::string descr;
  size_t str_len = 1;
  switch (t.dtype()) {
    case DataType::kFloat: descr = "<f4"; break;
    case DataType::kDouble: descr = "<f8"; break;
    case DataType::kFloat16: descr = "<f2"; break;
    case DataType::kInt8: descr = "|i1"; break;
    case DataType::kInt16: descr = "<i2"; break;
    case DataType::kInt32: descr = "<i4"; break;
    case DataType::kInt64: descr = "<i8"; break;
    case DataType::kUInt8: descr = "|u1"; break;
    case DataType::kUInt16: descr = "<u2"; break;
    case DataType::kUInt32: descr = "<u4"; break;
    case DataType::kUInt64: descr = "<u8"; break;
    case DataType::kBool: descr = "|b1"; break;
    case DataType::kComplex64: descr = "<c8"; break;
    case DataType::kComplex128: descr = "<c16"; break;
    case DataType::kString:
      for (int64_t i = 0; i < t.numel(); ++i)
        str_len = std::max(str_len, utf8_to_codepoints(t.data<std::string>()[i]).size());
      descr = "<U" + std::to_string(str_len);
      break;
    default: throw Error(ErrorCode::kInvalidArgument, std::string("cannot write ") + dtype_name(t.dtype()) + " as npy");
  }
  std::string shape = "(";
  for (size_t i = 0; i < t.shape().size(); ++i) shape += (i ? ", " : "") + std::to_string(t.shape()[i]);
  if (t.rank() == 1) shape += ",";
  shape += ")";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(1);
  out += static_cast<char>(0);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  if (t.dtype() == DataType::kString) {
    for (int64_t i = 0; i < t.numel(); ++i) {
      auto cps = utf8_to_codepoints(t.data<std::string>()[i]);
      cps.resize(str_len, 0);
      out.append(reinterpret_cast<const char*>(cps.data()), cps.size() * 4);
    }
  } else {
    out.append(static_cast<const char*>(t.raw()), t.nbytes());
  }
  return out;
}

void write_npy(const std::string& path, const Tensor& t) {
  std::string bytes = encode_npy(t);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw Error(ErrorCode::kIO, path + ": cannot open for writing");
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw Error(ErrorCode::kIO, path + ": write failed");
}

}  // namespace pier
