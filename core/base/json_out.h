// JSON text of a Jansson value with each real in its shortest form that reads back as the
// same double (0.6, not Jansson's 0.59999999999999998). One writer for every JSON text the
// project prints: the daemon's API responses and event streams, the trainer's event lines and
// checkpoint metadata, and the job spec's text form (spec_to_json).
#ifndef SIMMIM_JSON_OUT_H
#define SIMMIM_JSON_OUT_H

#include <jansson.h>
#include <stddef.h>

// Compact text ({"a":1,"b":[0.6,2.0]}), NUL-terminated and malloc'd, of *len bytes; NULL
// when out of memory.
char *json_out(const json_t *value, size_t *len);

// The same with a space after every ',' and ':' ({"a": 1, "b": [0.6, 2.0]}), still one line:
// the job spec's form, meant to be read by people too.
char *json_out_spaced(const json_t *value, size_t *len);

// A real as json_out writes it (the fewest of 15 to 17 significant digits that read back,
// ".0" added to an integral text) into out with its NUL; returns its length. For writers of
// long JSON texts that skip the Jansson tree (the daemon's metrics series).
enum { JSON_REAL_TEXT_MAX = 40 };
size_t json_out_real(double v, char out[JSON_REAL_TEXT_MAX]);

// A JSON string for text that may not be valid UTF-8, such as a file or folder name (a
// non-UTF-8 text as text_one_line makes it); NULL for NULL or out of memory.
json_t *json_text(const char *s);

// Makes text, in place, one line of valid UTF-8: each byte that does not belong to a valid
// UTF-8 character (Jansson's rules) and each control character becomes '?'. For error text
// that echoes its input (keys, Jansson's tokens, a request's path) and may have been cut in
// the middle of a character, on its way into a JSON answer and a log line.
void text_one_line(char *text);

#endif
