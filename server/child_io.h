// What the daemon's two kinds of children (the supervisor's trainers, the scanner's dataset
// scans) share: the environment they start with, the JSON lines they write on their stdout
// pipe, and the end of the log they write on their stderr, read back when one dies without
// an error event of its own.
#ifndef SIMMIMD_CHILD_IO_H
#define SIMMIMD_CHILD_IO_H

#include <stddef.h>

enum { CHILD_LINE_MAX = 1 << 16 };

// A line being read from a child's pipe; a longer line is cut at CHILD_LINE_MAX − 1 bytes.
typedef struct {
    char text[CHILD_LINE_MAX];
    size_t len;
} ChildLine;

// owner: the supervisor or scanner; child: its record of the child.
typedef void (*ChildLineFn)(void *owner, void *child, const char *line);

// The daemon's environment plus OMP_WAIT_POLICY=passive unless the daemon sets a policy of
// its own; NULL when out of memory. Free the array (not its strings) with free().
char **child_environment(void);

// Reads what is there on fd and calls on_line for each complete line. 0 at end of file (or
// on a read error), 1 otherwise.
int child_read_lines(int fd, ChildLine *line, ChildLineFn on_line, void *owner, void *child);

// The last cap − 1 bytes of the file at path, cut to its last max_lines lines (0: no cut);
// "" when it cannot be read.
void child_log_tail(const char *path, char *out, size_t cap, int max_lines);

#endif
