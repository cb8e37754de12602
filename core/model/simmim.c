// SimMIM pretraining head: final LayerNorm on the encoder's output tokens (a ViT's patch
// tokens, cls dropped; Swin's last stage, at its stride), the decoder per
// token (linear — the reference's 1×1 convolution —, a 2-layer MLP, or transformer blocks over
// the token grid) to s²·C' values, pixel shuffle to the r×r prediction, and the loss against
// the image average-pooled to r×r: a regression (l1, l2, smooth_l1) or a per-pixel
// classification (bins per channel, or one of a palette's colours), on the masked area or
// the full image (docs/job-spec.md, decoder, target and loss).
#include <math.h>
#include <string.h>

#include "model/model.h"
#include "ops/ops.h"

static BlockStack decoder_block_stack(const Model *m)
{
    const ModelConfig *c = &m->cfg;
    return (BlockStack){.params = m->params.dec_blocks, .grads = m->grads.dec_blocks,
                        .acts = m->acts.dec_blocks, .depth = c->decoder.depth,
                        .tokens = model_out_tokens(c), .dim = decoder_embed_dim(c),
                        .heads = decoder_num_heads(c), .hidden = decoder_mlp_hidden(c),
                        .drop_path = 0, .eps = 1e-6f};
}

static const float *decoder_blocks_output(const Model *m)
{
    return m->acts.dec_blocks[m->cfg.decoder.depth - 1].res2;
}

// lnf [B·N, D] → dec [B·N, out]
static void decoder_forward(Model *m)
{
    const ModelConfig *c = &m->cfg;
    const Params *p = &m->params;
    Acts *a = &m->acts;
    int B = m->in.size, N = model_out_tokens(c), BN = B * N, D = model_out_dim(c);
    int out = simmim_decoder_out(c);
    switch (c->decoder.type) {
    case DECODER_LINEAR: matmul_forward(a->dec, a->lnf, p->out_w, p->out_b, BN, D, out); break;
    case DECODER_MLP: {
        int Hd = decoder_hidden(c);
        matmul_forward(a->dec_hidden, a->lnf, p->dec_fc1_w, p->dec_fc1_b, BN, D, Hd);
        gelu_forward(a->dec_gelu, a->dec_hidden, (long)BN * Hd);
        matmul_forward(a->dec, a->dec_gelu, p->out_w, p->out_b, BN, Hd, out);
        break;
    }
    case DECODER_TRANSFORMER: {
        int E = decoder_embed_dim(c);
        BlockStack stack = decoder_block_stack(m);
        matmul_forward(a->dec_x0, a->lnf, p->dec_embed_w, p->dec_embed_b, BN, D, E);
        add_position_forward(a->dec_x0, p->dec_pos_embed, B, N, E);
        blocks_forward(m, &stack, a->dec_x0);
        layernorm_forward(a->dec_normed, a->dec_norm_mean, a->dec_norm_rstd,
                          decoder_blocks_output(m), p->dec_norm_w, p->dec_norm_b, BN, E, 1e-6f);
        matmul_forward(a->dec, a->dec_normed, p->out_w, p->out_b, BN, E, out);
        break;
    }
    }
}

// ddec [B·N, out] → dlnf [B·N, D] (overwritten); parameter gradients accumulate.
static void decoder_backward(Model *m)
{
    const ModelConfig *c = &m->cfg;
    const Params *p = &m->params;
    const Params *g = &m->grads;
    Acts *a = &m->acts;
    int B = m->in.size, N = model_out_tokens(c), BN = B * N, D = model_out_dim(c);
    int out = simmim_decoder_out(c);
    float *scratch = a->weight_grad_scratch;
    switch (c->decoder.type) {
    case DECODER_LINEAR:
        matmul_backward(a->dlnf, g->out_w, g->out_b, scratch, a->ddec, a->lnf, p->out_w, BN, D, out);
        break;
    case DECODER_MLP: {
        int Hd = decoder_hidden(c);
        matmul_backward(a->ddec_hidden, g->out_w, g->out_b, scratch, a->ddec, a->dec_gelu, p->out_w,
                        BN, Hd, out);
        gelu_backward(a->ddec_hidden, a->dec_hidden, a->dec_gelu, a->ddec_hidden, (long)BN * Hd);
        matmul_backward(a->dlnf, g->dec_fc1_w, g->dec_fc1_b, scratch, a->ddec_hidden, a->lnf,
                        p->dec_fc1_w, BN, D, Hd);
        break;
    }
    case DECODER_TRANSFORMER: {
        int E = decoder_embed_dim(c);
        BlockStack stack = decoder_block_stack(m);
        // dln and dres are the blocks' shared scratch, free until blocks_backward
        matmul_backward(a->dln, g->out_w, g->out_b, scratch, a->ddec, a->dec_normed, p->out_w, BN,
                        E, out);
        memset(a->dres, 0, sizeof(float) * (size_t)BN * E); // layernorm_backward accumulates
        layernorm_backward(a->dres, g->dec_norm_w, g->dec_norm_b, a->dln, decoder_blocks_output(m),
                           p->dec_norm_w, a->dec_norm_mean, a->dec_norm_rstd, BN, E);
        blocks_backward(m, &stack, a->dec_x0);
        add_position_backward(g->dec_pos_embed, a->dres, B, N, E);
        matmul_backward(a->dlnf, g->dec_embed_w, g->dec_embed_b, scratch, a->dres, a->lnf,
                        p->dec_embed_w, BN, D, E);
        break;
    }
    }
}

static RegressionLoss regression_kind(LossType type)
{
    return type == LOSS_L2 ? REGRESSION_L2 : type == LOSS_SMOOTH_L1 ? REGRESSION_SMOOTH_L1
                                                                     : REGRESSION_L1;
}

// The target image [B, C, r, r]: the input pooled to r×r, or the input itself at full size.
static const float *target_image(Model *m)
{
    const ModelConfig *c = &m->cfg;
    int f = c->img_size / simmim_target_resolution(c);
    if (f == 1) return m->in.images;
    avg_pool_forward(m->acts.target, m->in.images, m->in.size, c->in_chans, c->img_size, f);
    return m->acts.target;
}

// The loss's mask at simmim_loss_grid (NULL: the loss covers the whole image — loss.scope full,
// or no token mask, as model_features runs it): the token mask, or its pooling to a target
// coarser than the patch grid (simmim_head_forward's).
static const float *loss_mask(const Model *m)
{
    if (m->cfg.loss.full_image || !m->in.token_mask) return NULL;
    return m->acts.loss_mask ? m->acts.loss_mask : m->in.token_mask;
}

// The classification losses' groups of K logits per target pixel: one per channel (bins) or
// one (palette).
static int class_groups(const ModelConfig *c) { return c->loss.type == LOSS_BINS ? c->in_chans : 1; }
static int class_count(const ModelConfig *c)
{
    return c->loss.type == LOSS_BINS ? c->loss.bins : c->loss.palette;
}

// The encoder's output tokens [B·N, D] (N, D: model_out_tokens, model_out_dim): Swin's last
// block's rows, a ViT's patch tokens (copied there by simmim_head_forward).
static const float *output_tokens(const Model *m)
{
    return m->cfg.arch == ARCH_SWIN ? swin_output(m) : m->acts.tokens;
}

float simmim_head_forward(Model *m)
{
    const ModelConfig *c = &m->cfg;
    const Params *p = &m->params;
    Acts *a = &m->acts;
    int B = m->in.size, N = model_out_tokens(c), D = model_out_dim(c), C = c->in_chans;
    int r = simmim_target_resolution(c), s = simmim_target_per_token(c);
    int sp = simmim_target_per_loss_cell(c); // target pixels per loss-mask cell
    if (c->arch == ARCH_VIT) patch_tokens_forward(a->tokens, vit_output(m), B, N, D);
    if (a->loss_mask && loss_mask(m))
        min_pool_forward(a->loss_mask, m->in.token_mask, B, model_grid(c), model_grid(c) / r);
    layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, output_tokens(m), p->norm_w, p->norm_b,
                      B * N, D, model_norm_eps(c));
    decoder_forward(m);
    pixel_shuffle_forward(a->pred, a->dec, B, simmim_pred_channels(c), r, s);
    const float *target = target_image(m), *mask = loss_mask(m);
    const LossConfig *l = &c->loss;
    switch (l->type) {
    case LOSS_BINS:
        bin_classes_forward(a->classes, target, m->pixel_mean, m->pixel_std, B, C, r, l->bins);
        break;
    case LOSS_PALETTE:
        palette_classes_forward(a->classes, target, m->pixel_mean, m->pixel_std, p->palette, B, C,
                                r, l->palette);
        break;
    default:
        return regression_loss_forward(regression_kind(l->type), (float)l->beta, a->pred, target,
                                       mask, B, C, r, sp);
    }
    return pixel_crossentropy_forward(a->pred, a->classes, mask, B, class_groups(c), class_count(c),
                                      r, sp);
}

void simmim_head_backward(Model *m)
{
    const ModelConfig *c = &m->cfg;
    const Params *p = &m->params;
    const Params *g = &m->grads;
    Acts *a = &m->acts;
    int B = m->in.size, N = model_out_tokens(c), D = model_out_dim(c), C = c->in_chans;
    int r = simmim_target_resolution(c), s = simmim_target_per_token(c);
    int sp = simmim_target_per_loss_cell(c);
    const float *mask = loss_mask(m);
    const LossConfig *l = &c->loss;
    if (l->type == LOSS_BINS || l->type == LOSS_PALETTE)
        pixel_crossentropy_backward(a->dpred, a->pred, a->classes, mask, B, class_groups(c),
                                    class_count(c), r, sp);
    else
        regression_loss_backward(regression_kind(l->type), (float)l->beta, a->dpred, a->pred,
                                 a->target ? a->target : m->in.images, mask, B, C, r, sp);
    pixel_shuffle_backward(a->ddec, a->dpred, B, simmim_pred_channels(c), r, s);
    decoder_backward(m);
    // layernorm_backward and patch_tokens_backward accumulate into their input gradients. Swin's
    // token gradient is its blocks' dres itself; a ViT's goes to the patch rows of dres.
    int vit = c->arch == ARCH_VIT;
    float *dtokens = vit ? a->dtokens : a->dres;
    memset(dtokens, 0, sizeof(float) * (size_t)B * N * D);
    layernorm_backward(dtokens, g->norm_w, g->norm_b, a->dlnf, output_tokens(m), p->norm_w,
                       a->lnf_mean, a->lnf_rstd, B * N, D);
    if (vit) {
        memset(a->dres, 0, sizeof(float) * (size_t)B * (N + 1) * D);
        patch_tokens_backward(a->dres, a->dtokens, B, N, D);
    }
}

size_t simmim_prediction_scratch_floats(const ModelConfig *cfg, int B)
{
    size_t r = simmim_target_resolution(cfg);
    return (size_t)B * cfg->in_chans * r * r;
}

void simmim_prediction_image(const Model *m, float *out, float *scratch)
{
    const ModelConfig *c = &m->cfg;
    const LossConfig *l = &c->loss;
    int B = m->in.size, C = c->in_chans, r = simmim_target_resolution(c), f = c->img_size / r;
    float *image = f == 1 ? out : scratch;
    long plane = (long)r * r;
    if (l->type != LOSS_BINS && l->type != LOSS_PALETTE) {
        memcpy(image, m->acts.pred, sizeof(float) * (size_t)B * C * plane);
    } else {
        float bin_centres[l->type == LOSS_BINS ? l->bins : 1];
        const float *values = m->params.palette;
        if (l->type == LOSS_BINS) {
            for (int k = 0; k < l->bins; k++) bin_centres[k] = (k + 0.5f) / l->bins;
            values = bin_centres;
        }
        pixel_expectation_forward(image, m->acts.pred, values, B, class_groups(c), class_count(c),
                                  l->type == LOSS_BINS ? 1 : C, r);
        for (long bc = 0; bc < (long)B * C; bc++) // back from [0, 1] to the input's normalization
            for (long i = 0; i < plane; i++) {
                float *v = &image[bc * plane + i];
                *v = (*v - m->pixel_mean[bc % C]) / m->pixel_std[bc % C];
            }
    }
    if (f > 1) upsample_nearest_forward(out, image, B, C, r, f);
}
