// Turns cached uint8 images into a normalized float batch: zero padding to the model's size,
// then for training RandomResizedCrop (area fraction and log-uniform aspect ratio, bilinear
// with align_corners=False and border replication) and a horizontal flip, then
// (x/255 − mean)/std per channel. Each image's random draws come from an RNG seeded by
// (seed, step, slot), so a batch is reproducible from its step alone: resuming needs no
// augmentation state and a loader thread may run ahead.
#ifndef SIMMIM_AUGMENT_H
#define SIMMIM_AUGMENT_H

#include <stdint.h>

#include "data/data.h"

typedef struct {
    double crop_scale[2]; // area fraction range, e.g. {0.67, 1.0}
    double crop_ratio[2]; // aspect ratio range, e.g. {0.75, 1.3333}
    int hflip;            // 1: flip with probability 0.5
} AugmentConfig;

// One image's crop as fractions of the padded side (left/top edge, width/height), and
// whether it is mirrored.
typedef struct {
    double left, top, width, height;
    int flip;
} AugmentCrop;

// The crop augment_batch uses for image `slot` of the batch of `step`: drawn from an RNG
// seeded by a hash of (seed, step, slot) in the order area fraction a ~ U(crop_scale), log
// aspect r ~ U(log crop_ratio), x, y, flip; width = min(1, √(a·r)), height = min(1, √(a/r)),
// the crop's centre uniform where it fits. aug NULL: the whole image, not mirrored.
AugmentCrop augment_crop(const AugmentConfig *aug, uint64_t seed, long step, int slot);

// The same crop for a source of width × height pixels (the streamed path's original image):
// the same draws, with the crop w = √(a·W·H·r), h = √(a·W·H/r) pixels, each side clamped to
// the image's, returned as fractions of width and height (width·W by height·H pixels). For a
// square source (width = height) exactly augment_crop's values.
// Where torchvision's RandomResizedCrop redraws a crop that does not fit (up to 10 times,
// then a centre crop), this clamps the side that does not fit and keeps the other, as the
// cached path always has: the same five draws per image whatever the source. A clamped crop
// covers less area than drawn (never more) and its aspect lies between the drawn one and the
// image's. With the default ranges (scale [0.67, 1], ratio [3/4, 4/3]) about 40% of the
// crops of a square source are clamped, 68% of a 4:3 one's (tests/unit/data/test_stream.c).
AugmentCrop augment_crop_wh(const AugmentConfig *aug, int width, int height, uint64_t seed,
                            long step, int slot);

// Builds images [B, C, S, S] (S = stored_size + 2·pad) and labels [B] (may be NULL) from
// set images indices[0..B), in parallel over the batch (results do not depend on the thread
// count). Image b is slot first + b of the step's batch (first > 0: one rank's rows of a batch
// that data-parallel ranks share out), whose crop it draws. Output pixel j samples the padded image (zeros outside the stored pixels) at
// (left + u·width)·S − ½ with u = (j + ½)/S (mirrored: (S − j − ½)/S), clamped to [0, S − 1],
// bilinearly; likewise rows. aug NULL: evaluation (pad and normalize only, exactly).
void augment_batch(const Dataset *ds, const ImageSet *set, const int *indices, int B,
                   const AugmentConfig *aug, uint64_t seed, long step, int first, float *images,
                   int *labels);

#endif
