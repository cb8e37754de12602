// Checkpoint files (docs/checkpoints.md, a contract): model weights as timm-named safetensors
// with simmimd's __metadata__, and the training state beside them (AdamW moments and step,
// also a safetensors file). In a run dir: checkpoints/step-<N>.state is written first, then
// checkpoints/step-<N>.safetensors, each atomically; a checkpoint is complete when both exist.
// This is the file and its metadata, what the daemon reads too; moving weights between a
// live model and these files is train/checkpoint.h's.
#ifndef SIMMIM_CHECKPOINT_FILE_H
#define SIMMIM_CHECKPOINT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "base/safetensors.h"
#include "config/config.h"
#include "data/data.h"

typedef struct {
    const char *kind;     // "pretrain" | "finetune"
    long step;
    uint64_t seed;
    int channels;
    double mean[DATA_MAX_CHANS], std[DATA_MAX_CHANS];
    int pad;
    long job_id;          // 0: absent
    const char *dataset;  // NULL: absent
    // pretraining: the spec's sections as JSON (written; checkpoint_read reads the head's
    // three into the model config instead)
    const char *mask_json, *decoder_json, *target_json, *loss_json;
} CheckpointMeta;

// Writes a weights file: the tensors, in order, under their names, with the metadata of the
// model config cfg and meta, atomically.
int checkpoint_file_write(const char *path, const StTensor *tensors, int count,
                          const ModelConfig *cfg, const CheckpointMeta *meta, char *err,
                          size_t errlen);

// Reads a weights file and its metadata: the model config (num_classes from the file's
// head, 0 for pretraining; the SimMIM head from the decoder, target and loss sections, each
// absent one today's default: linear, full resolution, l1), kind, mean, std, pad. The caller
// frees st.
int checkpoint_read(const char *path, SafeTensors *st, ModelConfig *cfg, CheckpointMeta *meta,
                    char *err, size_t errlen);

// Whether a fine-tuning can start from a checkpoint — its model cfg, its images padded by
// checkpoint_pad — on a dataset whose images dataset_load pads by dataset_pad at cfg's image
// size (data.h's dataset_pad_for). The encoder's normalization, position embedding and
// padding were learned together, so the padding must be the same. 0, or -1 with a message
// saying what differs. The one check of the trainer and of the daemon at submission.
int checkpoint_suits_dataset(const ModelConfig *cfg, int checkpoint_pad, int dataset_pad,
                             char *err, size_t errlen);

// Whether a pretraining of the model spec_cfg (its encoder adopted, spec_adopt_model) can
// continue from a checkpoint of ckpt_cfg: a pretraining checkpoint with the same encoder, the
// same decoder (type and shape), target resolution and prediction (a regression — l1, l2 and
// smooth_l1 predict the same values — or bins or a palette of the same K). 0, or -1 with a
// message saying what differs. The one check of the trainer and of the daemon at submission.
int checkpoint_suits_pretraining(const ModelConfig *ckpt_cfg, const ModelConfig *spec_cfg,
                                 char *err, size_t errlen);

// Writes a training state: the AdamW moments m and v of n parameters, the training step,
// AdamW's own step count and the ranks that trained it (train.ranks), atomically.
int checkpoint_state_write(const char *path, const float *m, const float *v, size_t n, long step,
                           long adamw_step, int ranks, char *err, size_t errlen);
// Reads a training state of n parameters into m and v (untouched on error), *adamw_step and
// *ranks (1 for a state written before ranks were recorded); returns the training step it
// holds, or -1 with err filled if the file is not a training state of n parameters.
long checkpoint_state_read(const char *path, float *m, float *v, size_t n, long *adamw_step,
                           int *ranks, char *err, size_t errlen);

// The steps N of every checkpoints/step-N.safetensors in run_dir, newest first, in *steps
// (the caller frees it); returns the count (0 when there are none or the dir is unreadable).
int checkpoint_steps(const char *run_dir, long **steps);
// The highest N with both checkpoints/step-N.state and .safetensors in run_dir; -1 if none.
long checkpoint_find_latest(const char *run_dir);

// --- verifying a weights file against the SHA-256 recorded for it (docs/checkpoints.md) ---
// Whether the file at path hashes to `expected` (64 hex digits, either case): 0 it does,
// 1 it does not, -1 it cannot be read. `actual` (may be NULL) gets the file's hash when read.
int checkpoint_verify_sha256(const char *path, const char *expected, char actual[65]);
// The SHA-256 run_dir recorded for checkpoints/step-<step>.safetensors: that of the last
// `checkpoint` event of that step in run_dir/events.jsonl (the trainer writes it after the
// file). 0 with `out` filled; -1 when none is recorded (no events.jsonl, or no such event:
// a run dir written without one, or a trainer that died between renaming the file into place
// and writing the event).
int checkpoint_recorded_sha256(const char *run_dir, long step, char out[65]);
// The same for a weights file given by path, when it lies in a run dir's layout
// (<run dir>/checkpoints/step-<N>.safetensors); -1 when it does not or nothing is recorded.
int checkpoint_recorded_sha256_of(const char *path, char out[65]);

// A complete checkpoint skipped by checkpoint_find_resumable: its step, weights file, the
// SHA-256 recorded for it and the one the file has.
typedef void (*CheckpointCorruptFn)(void *ctx, long step, const char *path, const char *expected,
                                    const char *actual);
// What --resume continues from: the highest N with both files whose weights file matches the
// SHA-256 recorded for it (or has none recorded, or cannot be read: then loading it reports
// why). Each newer complete checkpoint that does not match is passed to on_corrupt (may be
// NULL) and skipped. -1 if none is left.
long checkpoint_find_resumable(const char *run_dir, CheckpointCorruptFn on_corrupt, void *ctx);

#endif
