// Saving and restoring a live model; see checkpoint.h. Tensors are written straight from the
// flat parameter buffer: the model's layouts are PyTorch's ([D, C, p, p] for the patch
// convolution is the same memory as our [D, C·p·p]).
#include "train/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// One StTensor per parameter, pointing into the model's flat buffer.
static StTensor *param_tensors(const Model *m)
{
    StTensor *t = calloc(m->num_tensors, sizeof *t);
    if (!t) return NULL;
    for (int i = 0; i < m->num_tensors; i++) {
        const ParamInfo *p = &m->info[i];
        t[i].name = (char *)p->name;
        t[i].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) t[i].shape[d] = p->shape[d];
        t[i].numel = p->numel;
        t[i].data = m->params_mem + p->offset;
    }
    return t;
}

int checkpoint_write_weights(const char *path, const Model *m, const CheckpointMeta *meta,
                             char *err, size_t errlen)
{
    StTensor *tensors = param_tensors(m);
    if (!tensors) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    int rc = checkpoint_file_write(path, tensors, m->num_tensors, &m->cfg, meta, err, errlen);
    free(tensors);
    return rc;
}

int checkpoint_write_state(const char *path, const AdamW *opt, long step, int ranks, char *err,
                           size_t errlen)
{
    return checkpoint_state_write(path, opt->m, opt->v, opt->n, step, opt->step, ranks, err,
                                  errlen);
}

// The encoder's tensors: a ViT's patch_embed, cls_token, pos_embed and blocks; a Swin's
// patch_embed, absolute_pos_embed, layers and its final norm, which its classifier reads (a
// ViT fine-tuning has no "norm.", only its own fc_norm).
static int is_encoder_param(const char *name)
{
    return strncmp(name, "patch_embed.", 12) == 0 || strcmp(name, "cls_token") == 0 ||
           strcmp(name, "pos_embed") == 0 || strncmp(name, "blocks.", 7) == 0 ||
           strcmp(name, "absolute_pos_embed") == 0 || strncmp(name, "layers.", 7) == 0 ||
           strncmp(name, "norm.", 5) == 0;
}

int checkpoint_load_params(Model *m, const SafeTensors *st, int encoder_only, char *err,
                           size_t errlen)
{
    for (int i = 0; i < m->num_tensors; i++) {
        const ParamInfo *p = &m->info[i];
        if (encoder_only && !is_encoder_param(p->name)) continue;
        const StTensor *t = safetensors_find(st, p->name);
        if (!t) {
            snprintf(err, errlen, "checkpoint has no tensor '%s'", p->name);
            return -1;
        }
        int same = t->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++) same = t->shape[d] == p->shape[d];
        if (!same) {
            snprintf(err, errlen, "checkpoint tensor '%s' has a different shape than the model's", p->name);
            return -1;
        }
        memcpy(m->params_mem + p->offset, t->data, p->numel * sizeof(float));
    }
    return 0;
}

long checkpoint_read_state(const char *path, const Model *m, AdamW *opt, int *ranks, char *err,
                           size_t errlen)
{
    if (opt->n != m->num_params) {
        snprintf(err, errlen, "%s: not a training state for this model", path);
        return -1;
    }
    long adamw_step, step = checkpoint_state_read(path, opt->m, opt->v, opt->n, &adamw_step,
                                                  ranks, err, errlen);
    if (step >= 0) opt->step = adamw_step;
    return step;
}
