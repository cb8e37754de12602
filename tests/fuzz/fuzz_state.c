// The training-state reader (core/spec/checkpoint_file.c, checkpoint_state_read) on any
// bytes, for a model of N parameters (the seeds' size): the AdamW moments are copied out
// only from a state of exactly N, and m, v and the AdamW step are untouched on a refusal.
#include "fuzz.h"
#include "spec/checkpoint_file.h"

enum { N = 16 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    float m[N + 1], v[N + 1];
    long adamw_step = -7;
    int ranks = -7;
    for (int i = 0; i <= N; i++) m[i] = v[i] = -1.0f;
    char err[512] = "";
    const char *path = fuzz_write_file("step-1.state", data, size);
    long step = checkpoint_state_read(path, m, v, N, &adamw_step, &ranks, err, sizeof err);
    fuzz_note(step == -1 && err[0] ? "refused: %s" : "accepted: %s", err[0] ? err : "a state");
    FUZZ_CHECK(m[N] == -1.0f && v[N] == -1.0f, "wrote past the %d parameters", N);
    if (step == -1 && err[0]) {
        for (int i = 0; i < N; i++)
            FUZZ_CHECK(m[i] == -1.0f && v[i] == -1.0f, "a refused state changed m or v");
        FUZZ_CHECK(adamw_step == -7, "a refused state changed the AdamW step");
    } else {
        FUZZ_CHECK(ranks >= 1, "an accepted state's ranks are %d", ranks);
    }
    return 0;
}
