// The safetensors reader (core/base/safetensors.c) on any bytes: a file it accepts has
// tensors whose data lies inside the one allocation (every float is read), names that
// safetensors_find finds, and metadata that safetensors_meta finds.
#include "base/safetensors.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    SafeTensors st;
    char err[512] = "";
    if (safetensors_read(fuzz_write_file("in.safetensors", data, size), &st, err, sizeof err)) {
        fuzz_note("refused: %s", err);
        FUZZ_CHECK(err[0] && st.count == 0 && !st.data, "a failed read left data or no message");
        return 0;
    }
    fuzz_note("accepted: %d tensors, %d metadata", st.count, st.meta_count);
    for (int i = 0; i < st.count; i++) {
        const StTensor *t = &st.tensors[i];
        FUZZ_CHECK(t->ndim >= 0 && t->ndim <= ST_MAX_DIMS, "tensor %d: ndim %d", i, t->ndim);
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++) numel *= (size_t)t->shape[d];
        FUZZ_CHECK(numel == t->numel, "tensor '%s': numel %zu for its shape's %zu", t->name,
                   t->numel, numel);
        fuzz_touch_floats(t->data, t->numel);
        FUZZ_CHECK(safetensors_find(&st, t->name) == t, "tensor '%s' not found by name",
                   t->name);
    }
    for (int i = 0; i < st.meta_count; i++)
        FUZZ_CHECK(safetensors_meta(&st, st.meta_keys[i]) == st.meta_values[i],
                   "metadata '%s' not found by key", st.meta_keys[i]);
    safetensors_free(&st);
    return 0;
}
