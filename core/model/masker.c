// The SimMIM masker (model.h's simmim_mask): which cells of the (img / mask_patch)² grid an
// image hides, by mask.type — random cells, one square, or BEiT's block-wise rectangles —
// upsampled to the token grid. Every draw comes from the caller's RNG (seeded per step), so a
// mask depends on (seed, step) alone. Buffers are on the stack: the grid is at most
// img_size² cells, and a step allocates nothing.
#include <math.h>
#include <string.h>

#include "model/model.h"

enum { BLOCK_ATTEMPTS = 10 };
static const double BLOCK_MIN_ASPECT = 0.3; // and 1 / 0.3: BEiT's log-uniform aspect range

// ceil(ratio · cells) cells of a uniformly random permutation (SimMIM's masker).
static int mask_random(uint8_t *cells, int side, int target, Rng *rng)
{
    int n = side * side, order[n];
    rng_permutation(rng, order, n);
    for (int i = 0; i < target; i++) cells[order[i]] = 1;
    return target;
}

// One k×k square, k² = target, at a uniformly random position.
static int mask_square(uint8_t *cells, int side, int target, Rng *rng)
{
    int k = (int)lround(sqrt((double)target));
    int top = (int)rng_below(rng, (uint32_t)(side - k + 1));
    int left = (int)rng_below(rng, (uint32_t)(side - k + 1));
    for (int y = top; y < top + k; y++) memset(cells + y * side + left, 1, (size_t)k);
    return target;
}

// One rectangle, as BEiT's _mask: up to BLOCK_ATTEMPTS draws of an area uniform in
// [min_block, left] and a log-uniform aspect; a draw that fits strictly inside the grid and
// would add between 1 and `left` new cells is placed. Returns the cells it added (0: none of
// the attempts could be placed).
static int mask_one_block(uint8_t *cells, int side, int left, int min_block, Rng *rng,
                          MaskRect *rect)
{
    for (int attempt = 0; attempt < BLOCK_ATTEMPTS; attempt++) {
        double area = min_block + (left - min_block) * rng_uniform(rng);
        double log_lo = log(BLOCK_MIN_ASPECT), log_hi = -log_lo;
        double aspect = exp(log_lo + (log_hi - log_lo) * rng_uniform(rng));
        int h = (int)nearbyint(sqrt(area * aspect)), w = (int)nearbyint(sqrt(area / aspect));
        if (w >= side || h >= side) continue;
        int top = (int)rng_below(rng, (uint32_t)(side - h + 1));
        int x0 = (int)rng_below(rng, (uint32_t)(side - w + 1));
        int covered = 0;
        for (int y = top; y < top + h; y++)
            for (int x = x0; x < x0 + w; x++) covered += cells[y * side + x];
        int added = h * w - covered;
        if (added <= 0 || added > left) continue;
        for (int y = top; y < top + h; y++) memset(cells + y * side + x0, 1, (size_t)w);
        if (rect) *rect = (MaskRect){top, x0, h, w, aspect};
        return added;
    }
    return 0;
}

int mask_block_draw(uint8_t *cells, int side, int target, int min_block, Rng *rng,
                    MaskRect *rects, int *rect_count)
{
    int masked = 0, placed = 0;
    while (masked < target) {
        int added = mask_one_block(cells, side, target - masked, min_block, rng,
                                   rects ? &rects[placed] : NULL);
        if (!added) break; // no rectangle found a place: short of the target, as BEiT's
        masked += added;
        placed++;
    }
    if (rect_count) *rect_count = placed;
    return masked;
}

int simmim_mask(float *token_mask, int B, const MaskConfig *mask, const ModelConfig *cfg,
                Rng *rng)
{
    int side = mask_grid(mask, cfg), target = mask_target_cells(mask, cfg);
    int scale = mask->mask_patch_size / cfg->patch_size, g = model_grid(cfg), total = 0;
    uint8_t cells[side * side];
    for (int b = 0; b < B; b++) {
        memset(cells, 0, sizeof cells);
        switch (mask->type) {
        case MASK_SQUARE: total += mask_square(cells, side, target, rng); break;
        case MASK_BLOCK:
            total += mask_block_draw(cells, side, target, mask->min_block, rng, NULL, NULL);
            break;
        default: total += mask_random(cells, side, target, rng); break;
        }
        float *tm = token_mask + (size_t)b * g * g;
        for (int y = 0; y < g; y++)
            for (int x = 0; x < g; x++) tm[y * g + x] = cells[(y / scale) * side + x / scale];
    }
    return total;
}
