/* Unicode tables for the template engine (generated into tmpl_unicode.c by
 * gen_unicode.pl): character classes for IsLetter/IsDigit/IsPrint and the
 * simple case mappings Go's strings.ToUpper/ToLower/Title use. */
#ifndef MM_TMPL_UNICODE_H
#define MM_TMPL_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum { U_LETTER = 1, U_DIGIT = 2, U_PRINT = 4 };

typedef struct { uint32_t lo, hi; uint8_t bits; } tmpl_urange_t;
typedef struct { uint32_t from, to; } tmpl_umap_t;

extern const tmpl_urange_t tmpl_uclass[];
extern const size_t tmpl_nuclass;
extern const tmpl_umap_t tmpl_uupper[], tmpl_ulower[], tmpl_utitle[];
extern const size_t tmpl_nuupper, tmpl_nulower, tmpl_nutitle;

#endif
