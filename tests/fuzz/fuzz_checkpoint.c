// The checkpoint reader (core/spec/checkpoint_file.c, checkpoint_read) on any bytes: the
// safetensors reader and then simmimd's __metadata__ (format, config, kind, pad, step, mean,
// std). A checkpoint it accepts has a valid model config, a kind, channels that mean and std
// cover, and padding that checkpoint_suits_dataset can judge.
#include "fuzz.h"
#include "spec/checkpoint_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    SafeTensors st;
    ModelConfig cfg;
    CheckpointMeta meta;
    char err[512] = "";
    const char *path = fuzz_write_file("step-1.safetensors", data, size);
    if (checkpoint_read(path, &st, &cfg, &meta, err, sizeof err)) {
        fuzz_note("refused: %s", err);
        FUZZ_CHECK(err[0], "checkpoint_read failed without a message");
        return 0;
    }
    fuzz_note("accepted: %s, step %ld, %d tensors", meta.kind, meta.step, st.count);
    char why[256];
    FUZZ_CHECK(model_config_validate(&cfg, why, sizeof why) == 0, "accepted config: %s", why);
    FUZZ_CHECK(meta.kind && meta.channels == cfg.in_chans && meta.channels >= 1 &&
                   meta.channels <= DATA_MAX_CHANS && meta.pad >= 0,
               "kind %s, channels %d, pad %d", meta.kind ? meta.kind : "NULL", meta.channels,
               meta.pad);
    fuzz_touch_bytes((const uint8_t *)meta.mean, (size_t)meta.channels * sizeof *meta.mean);
    fuzz_touch_bytes((const uint8_t *)meta.std, (size_t)meta.channels * sizeof *meta.std);
    for (int i = 0; i < st.count; i++) fuzz_touch_floats(st.tensors[i].data, st.tensors[i].numel);
    checkpoint_suits_dataset(&cfg, meta.pad, 0, why, sizeof why);
    safetensors_free(&st);
    return 0;
}
