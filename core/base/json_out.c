// JSON serialization (json_out.h): objects in insertion order, strings escaped as Jansson
// escapes them (RFC 8259's minimum; Jansson's strings are valid UTF-8 already), integers as
// they are, and reals with the fewest significant digits (15 to 17) that round-trip.
#include "base/json_out.h"

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

static void put_real(Out *o, double v)
{
    char text[32];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, v);
        if (strtod(text, NULL) == v) break;
    }
    if (!strpbrk(text, ".eEn")) strcat(text, ".0"); // stays a real for typed readers
    put_str(o, text);
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

json_t *json_text(const char *s)
{
    if (!s) return NULL;
    json_t *j = json_string(s);
    if (j) return j;
    // Not UTF-8: keep the ASCII bytes, mark the others.
    size_t n = strlen(s);
    char *copy = malloc(n + 1);
    if (!copy) return NULL;
    for (size_t i = 0; i <= n; i++) copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    j = json_string(copy);
    free(copy);
    return j;
}
