// JSON serialization (json_out.h): objects in insertion order, strings escaped as Jansson
// escapes them (RFC 8259's minimum; Jansson's strings are valid UTF-8 already), integers as
// they are, and reals with the fewest significant digits (15 to 17) that round-trip.
#include "base/json_out.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
    const char *comma, *colon; // separators: compact or spaced
} Out;

static void put(Out *o, const char *s, size_t n)
{
    if (o->failed) return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n + 1) cap *= 2;
        char *grown = realloc(o->buf, cap);
        if (!grown) {
            o->failed = 1;
            return;
        }
        o->buf = grown, o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = 0;
}

static void put_str(Out *o, const char *s) { put(o, s, strlen(s)); }

// The fewest significant digits, 15 to 17, whose %.*g text reads back as v: the text
// snprintf("%.*g") gives for that many, without snprintf and strtod in nearly every case.
//  - The 17 correctly rounded digits: |v| × 10^k in long double (64-bit significand, both
//    factors exact for k ≤ 27, so the product is off by under 2^-64 of itself, < 0.006 when it
//    is below 10^17) rounded to an integer, unless it lies within 0.02 of a half, or |v| is
//    outside 10^-11 to 10^16; snprintf("%.16e") then.
//  - The 16 and 15 digits by rounding those again, which is exact unless the digits dropped are
//    exactly 5 or 50 (the value may then lie on either side of the half): snprintf then.
//  - Whether digits read back is decided, as strtod would, by one IEEE multiplication or
//    division when the digits as an integer and the power of ten are both exact doubles
//    (Clinger's fast path: at most 2^53, 10^0 to 10^22), else by strtod. If 16 digits do not
//    read back, 15 cannot (the nearest 16-digit decimal is at least as near as the nearest
//    15-digit one).
// Zero, subnormals and non-finite values take the plain loop. The same text as the loop
// (tests/unit/base/test_json_out.c compares them), several times as fast: the metrics of a
// long job are thousands of reals per answer.
static void format_g(char *text, size_t cap, double v, int digits)
{
    snprintf(text, cap, "%.*g", digits, v);
}

static void real_text_loop(char *text, size_t cap, double v)
{
    for (int digits = 15; digits <= 17; digits++) {
        format_g(text, cap, v, digits);
        if (strtod(text, NULL) == v) break;
    }
}

// %.*g of the value with significant digits d[0..n) (no sign) and decimal exponent x
// (value = d0.d1d2... × 10^x), n = the precision.
static void g_text(char *text, const char *sign, const char *d, int n, int x)
{
    int last = n; // digits kept: trailing zeros go, as %g drops them
    while (last > 1 && d[last - 1] == '0') last--;
    char *p = text;
    for (const char *c = sign; *c; c++) *p++ = *c;
    if (x < -4 || x >= n) {
        *p++ = d[0];
        if (last > 1) {
            *p++ = '.';
            memcpy(p, d + 1, (size_t)last - 1), p += last - 1;
        }
        sprintf(p, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
        return;
    }
    if (x >= 0) {
        memcpy(p, d, (size_t)x + 1), p += x + 1;
        if (last > x + 1) {
            *p++ = '.';
            memcpy(p, d + x + 1, (size_t)(last - x - 1)), p += last - x - 1;
        }
    } else {
        *p++ = '0', *p++ = '.';
        for (int i = 0; i < -x - 1; i++) *p++ = '0';
        memcpy(p, d, (size_t)last), p += last;
    }
    *p = 0;
}

// Rounds the 17 digits d17 (exponent x17) to n digits, half up, into d (exponent *x);
// -1 when the dropped digits are exactly half, where the 17 digits cannot tell.
static int round_digits(const char *d17, int x17, int n, char *d, int *x)
{
    const char *drop = d17 + n;
    int half = drop[0] == '5';
    for (int i = 1; i < 17 - n; i++) half = half && drop[i] == '0';
    if (half) return -1;
    memcpy(d, d17, (size_t)n);
    *x = x17;
    if (drop[0] >= '5') {
        int i = n - 1;
        while (i >= 0 && d[i] == '9') d[i--] = '0';
        if (i >= 0) {
            d[i]++;
        } else { // 99...9 became 100...0: one more digit before the point
            d[0] = '1';
            (*x)++;
        }
    }
    return 0;
}

// Whether the n digits d (value d0.d1d2... × 10^x) read back as |v|; text is their %g text.
static int reads_back(const char *d, int n, int x, const char *text, double v)
{
    static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    unsigned long long m = 0;
    for (int i = 0; i < n; i++) m = m * 10 + (unsigned)(d[i] - '0');
    int k = x - (n - 1); // value = m × 10^k
    if (m <= (1ull << 53) && k >= -22 && k <= 22) {
        double back = k >= 0 ? (double)m * POW10[k] : (double)m / POW10[-k];
        return back == fabs(v);
    }
    return strtod(text, NULL) == v;
}

// The 17 correctly rounded significant digits of a (normal, > 0) and their exponent
// (a ≈ d0.d1d2... × 10^x), by long double arithmetic; -1 when it cannot be sure of them.
static int digits17_fast(double a, char *d, int *x)
{
    static const long double POW10L[] = {1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,
                                         1e7L,  1e8L,  1e9L,  1e10L, 1e11L, 1e12L, 1e13L,
                                         1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L, 1e20L,
                                         1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
    if (!(a >= 1e-11 && a < 1e16)) return -1;
    int e = (int)floor(log10(a)); // off by one at most, near a power of ten
    long double s = 0;
    for (int tries = 0; tries < 2; tries++) {
        int k = 16 - e;
        if (k < 0 || k > 27) return -1;
        s = (long double)a * POW10L[k];
        if (s < 1e16L) e--;
        else if (s >= 1e17L) e++;
        else break;
    }
    if (s < 1e16L + 1 || s > 1e17L - 1) return -1; // an exponent too near to call
    long double whole = floorl(s), frac = s - whole;
    if (fabsl(frac - 0.5L) < 0.02L) return -1;
    unsigned long long m = (unsigned long long)whole + (frac > 0.5L);
    for (int i = 16; i >= 0; i--, m /= 10) d[i] = (char)('0' + m % 10);
    *x = e;
    return 0;
}

static void real_text(char *text, size_t cap, double v)
{
    if (!isnormal(v)) {
        real_text_loop(text, cap, v);
        return;
    }
    char d17[17], d[17];
    int x17;
    const char *sign = v < 0 ? "-" : "";
    if (digits17_fast(fabs(v), d17, &x17)) {
        char e17[40];
        snprintf(e17, sizeof e17, "%.16e", v); // [-]d.dddddddddddddddde[+-]xx
        const char *m = e17 + (v < 0);
        d17[0] = m[0];
        memcpy(d17 + 1, m + 2, 16);
        x17 = atoi(m + 19);
    }
    for (int n = 16; n >= 15; n--) {
        int x, ok;
        if (round_digits(d17, x17, n, d, &x)) {
            format_g(text, cap, v, n);
            ok = strtod(text, NULL) == v;
        } else {
            g_text(text, sign, d, n, x);
            ok = reads_back(d, n, x, text, v);
        }
        if (!ok) {
            if (n == 16) { // neither 16 nor 15 digits read back
                g_text(text, sign, d17, 17, x17);
                return;
            }
            // 15 digits do not read back, 16 do: again what 16 gives
            if (round_digits(d17, x17, 16, d, &x)) format_g(text, cap, v, 16);
            else g_text(text, sign, d, 16, x);
            return;
        }
    }
}

size_t json_out_real(double v, char out[JSON_REAL_TEXT_MAX])
{
    char text[JSON_REAL_TEXT_MAX];
    real_text(text, sizeof text, v);
    if (!strpbrk(text, ".eEn")) strcat(text, ".0"); // stays a real for typed readers
    size_t len = strlen(text);
    memcpy(out, text, len + 1);
    return len;
}

static void put_real(Out *o, double v)
{
    char text[JSON_REAL_TEXT_MAX];
    put(o, text, json_out_real(v, text));
}

static void put_string(Out *o, const char *s, size_t n)
{
    put(o, "\"", 1);
    size_t run = 0; // bytes copied as they are
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        char esc[8];
        put(o, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': put_str(o, "\\\""); break;
        case '\\': put_str(o, "\\\\"); break;
        case '\n': put_str(o, "\\n"); break;
        case '\r': put_str(o, "\\r"); break;
        case '\t': put_str(o, "\\t"); break;
        case '\b': put_str(o, "\\b"); break;
        case '\f': put_str(o, "\\f"); break;
        default: snprintf(esc, sizeof esc, "\\u%04X", c), put_str(o, esc);
        }
    }
    put(o, s + run, n - run);
    put(o, "\"", 1);
}

static void put_value(Out *o, const json_t *v)
{
    char text[32];
    const char *key;
    json_t *item;
    size_t i;
    if (!v) {
        put_str(o, "null");
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        put(o, "{", 1);
        i = 0;
        json_object_foreach((json_t *)v, key, item) {
            if (i++) put_str(o, o->comma);
            put_string(o, key, strlen(key));
            put_str(o, o->colon);
            put_value(o, item);
        }
        put(o, "}", 1);
        break;
    case JSON_ARRAY:
        put(o, "[", 1);
        json_array_foreach(v, i, item) {
            if (i) put_str(o, o->comma);
            put_value(o, item);
        }
        put(o, "]", 1);
        break;
    case JSON_STRING: put_string(o, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER:
        snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        put_str(o, text);
        break;
    case JSON_REAL: put_real(o, json_real_value(v)); break;
    case JSON_TRUE: put_str(o, "true"); break;
    case JSON_FALSE: put_str(o, "false"); break;
    default: put_str(o, "null"); break;
    }
}

static char *write_text(const json_t *value, size_t *len, const char *comma, const char *colon)
{
    Out o = {.comma = comma, .colon = colon};
    put_value(&o, value);
    if (o.failed || !o.buf) {
        free(o.buf);
        return NULL;
    }
    *len = o.len;
    return o.buf;
}

char *json_out(const json_t *value, size_t *len) { return write_text(value, len, ",", ":"); }

char *json_out_spaced(const json_t *value, size_t *len)
{
    return write_text(value, len, ", ", ": ");
}

// Length of the valid UTF-8 sequence at p (n bytes left; Jansson's rules: no overlong forms,
// surrogates or code points past U+10FFFF), 0 if it is not one.
static size_t utf8_sequence(const unsigned char *p, size_t n)
{
    static const unsigned min_code[5] = {0, 0, 0x80, 0x800, 0x10000};
    unsigned c = p[0];
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
               : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    unsigned code = len == 1 ? c : c & (0x7Fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        code = code << 6 | (p[i] & 0x3Fu);
    }
    if (code < min_code[len] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
    return len;
}

void text_one_line(char *text)
{
    unsigned char *p = (unsigned char *)text;
    size_t n = strlen(text);
    for (size_t i = 0; i < n;) {
        size_t len = utf8_sequence(p + i, n - i);
        if (len == 0 || (len == 1 && (p[i] < 0x20 || p[i] == 0x7F))) p[i] = '?', len = 1;
        i += len;
    }
}

json_t *json_text(const char *s)
{
    if (!s) return NULL;
    json_t *j = json_string(s);
    if (j) return j;
    char *copy = strdup(s);
    if (!copy) return NULL;
    text_one_line(copy);
    j = json_string(copy);
    free(copy);
    return j;
}
