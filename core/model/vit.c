// The ViT encoder: patch embedding, mask-token substitution, cls token and position
// embedding, then `depth` pre-norm blocks (block.c) with drop path. Forward keeps every
// activation the backward pass needs in m->acts.
#include <stddef.h>

#include "model/model.h"
#include "ops/ops.h"

const float *vit_drop_scale(const Model *m, int l, int j)
{
    float rate = model_drop_path_rate(&m->cfg, l);
    if (!m->in.drop_keep || rate == 0.0f) return NULL;
    return m->acts.drop_scale + ((size_t)l * 2 + j) * m->in.size;
}

void fill_drop_scales(Model *m)
{
    if (!m->in.drop_keep) return;
    int B = m->in.size;
    for (int l = 0; l < model_total_blocks(&m->cfg); l++) {
        float keep_prob = 1.0f - model_drop_path_rate(&m->cfg, l);
        for (int i = 0; i < 2 * B; i++) {
            size_t at = (size_t)l * 2 * B + i;
            m->acts.drop_scale[at] = m->in.drop_keep[at] / keep_prob;
        }
    }
}

BlockStack vit_block_stack(const Model *m)
{
    const ModelConfig *c = &m->cfg;
    return (BlockStack){.params = m->params.blocks, .grads = m->grads.blocks,
                        .acts = m->acts.blocks, .depth = c->depth,
                        .tokens = model_num_tokens(c), .dim = c->embed_dim,
                        .heads = c->num_heads, .hidden = model_mlp_hidden(c), .drop_path = 1,
                        .eps = model_norm_eps(c)};
}

float *vit_output(const Model *m) { return m->acts.blocks[m->cfg.depth - 1].res2; }

void vit_forward(Model *m)
{
    const ModelConfig *c = &m->cfg;
    const Params *p = &m->params;
    Acts *a = &m->acts;
    int B = m->in.size, N = model_num_patches(c), D = c->embed_dim;
    patch_embed_forward(a->patch_out, a->patches, m->in.images, p->patch_w, p->patch_b, B,
                        c->in_chans, c->img_size, c->patch_size, D);
    embed_forward(a->x0, a->patch_out, p->cls_token, p->mask_token, p->pos_embed,
                  p->mask_token ? m->in.token_mask : NULL, B, N, D);
    fill_drop_scales(m);
    BlockStack stack = vit_block_stack(m);
    blocks_forward(m, &stack, a->x0);
}

void vit_backward(Model *m)
{
    const ModelConfig *c = &m->cfg;
    Acts *a = &m->acts;
    int B = m->in.size, N = model_num_patches(c), D = c->embed_dim;
    BlockStack stack = vit_block_stack(m);
    blocks_backward(m, &stack, a->x0);
    embed_backward(a->dpatch_out, m->grads.cls_token, m->grads.mask_token, m->grads.pos_embed,
                   a->dres, m->params.mask_token ? m->in.token_mask : NULL, B, N, D);
    patch_embed_backward(m->grads.patch_w, m->grads.patch_b, a->weight_grad_scratch, a->dpatch_out,
                         a->patches, B, N, model_patch_dim(c), D);
}
