// Compact JSON text of a Jansson value with each real in its shortest form that reads back
// as the same double (0.6, not Jansson's 0.59999999999999998), for every API response and
// event stream.
#ifndef SIMMIMD_JSON_OUT_H
#define SIMMIMD_JSON_OUT_H

#include <jansson.h>
#include <stddef.h>

// A NUL-terminated malloc'd text of *len bytes; NULL when out of memory.
char *json_out(const json_t *value, size_t *len);

#endif
