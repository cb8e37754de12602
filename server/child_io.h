// What the daemon's two kinds of children (the supervisor's trainers, the scanner's dataset
// scans) share: the environment they start with, the JSON lines they write on their stdout
// pipe, and the end of the log they write on their stderr, read back when one dies without
// an error event of its own.
#ifndef SIMMIMD_CHILD_IO_H
#define SIMMIMD_CHILD_IO_H

#include <stddef.h>
#include <sys/types.h>

enum { CHILD_LINE_MAX = 1 << 16 };

// A line being read from a child's pipe; a longer line is cut at CHILD_LINE_MAX − 1 bytes.
typedef struct {
    char text[CHILD_LINE_MAX];
    size_t len;
} ChildLine;

// owner: the supervisor or scanner; child: its record of the child.
typedef void (*ChildLineFn)(void *owner, void *child, const char *line);

// What an owner of children keeps: the environment they start with (the daemon's plus
// OMP_WAIT_POLICY=passive unless the daemon sets a policy of its own) and a pipe that wakes
// the owner's thread from its poll on the children's pipes.
typedef struct {
    char **env;
    int wake_pipe[2]; // non-blocking, closed on exec
} ChildOwner;

// Checks that binary (what: "train binary", "data binary") can be run, then opens the pipe
// and builds the environment. 0, or -1 with err naming the problem and `owner` ("scanner").
int child_owner_open(ChildOwner *o, const char *owner, const char *what, const char *binary,
                     char *err, size_t errlen);
void child_owner_close(ChildOwner *o);
// Starts program with argv and the owner's environment at a lower priority than the daemon
// (the API answers first), its stdout on out_fd and stderr on log_fd, with the signals the
// daemon blocks unblocked; death_signal (0: none) is sent to it if the daemon dies. Its pid,
// or -1 with errno.
pid_t child_spawn(const ChildOwner *o, const char *program, char *const argv[], int out_fd,
                  int log_fd, int death_signal);
// Wakes the owner's poll; drain empties the pipe once the poll has seen it readable.
void child_owner_wake(ChildOwner *o, const char *owner);
void child_owner_drain(ChildOwner *o);

// Reads what is there on fd and calls on_line for each complete line. 0 at end of file (or
// on a read error), 1 otherwise.
int child_read_lines(int fd, ChildLine *line, ChildLineFn on_line, void *owner, void *child);

// The last cap − 1 bytes of the file at path, cut to its last max_lines lines (0: no cut);
// "" when it cannot be read.
void child_log_tail(const char *path, char *out, size_t cap, int max_lines);

#endif
