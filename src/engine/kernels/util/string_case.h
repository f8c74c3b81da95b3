// UTF-8 case conversion for the string ops (StringNormalizer).
//
// Simple (one code point to one code point) Unicode case mapping, locale
// independent except for the Turkic dotted/dotless i, covering Latin
// (Basic, Latin-1, Extended-A/B, Extended Additional), Greek and Coptic,
// Cyrillic (and Supplement), Armenian, Georgian, Glagolitic, Coptic,
// Roman numerals, circled letters, fullwidth Latin and Deseret. Characters
// outside these blocks, and those without a one-to-one mapping (e.g. German
// sharp s in upper case), are left unchanged. Bytes that are not valid
// UTF-8 are copied through unchanged.
#pragma once

#include <string>
#include <string_view>

namespace pier::kernels::strcase {

char32_t to_lower(char32_t c);
char32_t to_upper(char32_t c);

// `turkic`: i <-> U+0130 (capital I with dot), U+0131 (dotless i) <-> I,
// as in the tr and az locales.
std::string utf8_lower(std::string_view s, bool turkic = false);
std::string utf8_upper(std::string_view s, bool turkic = false);

// True for locales with Turkic casing rules ("tr", "tr_TR", "az_AZ.UTF-8"...).
bool is_turkic_locale(std::string_view locale);

}  // namespace pier::kernels::strcase
