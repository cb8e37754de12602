// Checkpoints (DESIGN.md "Checkpoints", a contract): model weights as timm-named safetensors
// with simmimd's __metadata__, and the training state beside them (AdamW moments and step,
// also a safetensors file). In a run dir: checkpoints/step-<N>.state is written first, then
// checkpoints/step-<N>.safetensors, each atomically; a checkpoint is complete when both exist.
#ifndef SIMMIM_CHECKPOINT_H
#define SIMMIM_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "base/safetensors.h"
#include "data/data.h"
#include "model/model.h"
#include "train/optim.h"

typedef struct {
    const char *kind;     // "pretrain" | "finetune"
    long step;
    uint64_t seed;
    int channels;
    double mean[DATA_MAX_CHANS], std[DATA_MAX_CHANS];
    int pad;
    long job_id;          // 0: absent
    const char *dataset;  // NULL: absent
    const char *mask_json, *loss_json; // pretraining: the spec's sections as JSON
} CheckpointMeta;

// Writes the model's weights under the contract's names with metadata, atomically.
int checkpoint_write_weights(const char *path, const Model *m, const CheckpointMeta *meta,
                             char *err, size_t errlen);
int checkpoint_write_state(const char *path, const Model *m, const AdamW *opt, long step,
                           char *err, size_t errlen);

// Reads a weights file and its metadata: the model config (num_classes from the file's
// head, 0 for pretraining), kind, mean, std, pad. The caller frees st.
int checkpoint_read(const char *path, SafeTensors *st, ModelConfig *cfg, CheckpointMeta *meta,
                    char *err, size_t errlen);
// Copies tensors from st into m by name. encoder_only: only patch_embed, cls_token, pos_embed
// and blocks (a fine-tuning start); otherwise every tensor of m must be present. A missing
// name or a shape mismatch is an error naming the tensor.
int checkpoint_load_params(Model *m, const SafeTensors *st, int encoder_only, char *err,
                           size_t errlen);
// Restores AdamW moments and step from a state file; returns the training step it holds.
long checkpoint_read_state(const char *path, const Model *m, AdamW *opt, char *err, size_t errlen);

// The steps N of every checkpoints/step-N.safetensors in run_dir, newest first, in *steps
// (the caller frees it); returns the count (0 when there are none or the dir is unreadable).
int checkpoint_steps(const char *run_dir, long **steps);
// The highest N with both checkpoints/step-N.state and .safetensors in run_dir; -1 if none.
long checkpoint_find_latest(const char *run_dir);

#endif
