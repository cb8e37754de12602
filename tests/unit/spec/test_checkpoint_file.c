// Checkpoint metadata of the SimMIM head (docs/checkpoints.md): a pretraining checkpoint's
// decoder, target and loss sections read back into the model config, a checkpoint without them
// (written before they existed) reads as the linear / full-resolution / l1 head, bad sections
// are refused; and checkpoint_suits_pretraining, the one check of a continued pretraining.
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spec/checkpoint_file.h"
#include "test.h"

// Writes a one-tensor checkpoint of cfg with the given head sections (NULL: absent) and reads
// it back: 0 with *out filled, or -1 with err.
static int write_and_read(const char *path, const ModelConfig *cfg, const char *decoder,
                          const char *target, const char *loss, ModelConfig *out, char *err,
                          size_t errlen)
{
    float w = 1.0f;
    StTensor t = {.name = "w", .ndim = 1, .shape = {1}, .numel = 1, .data = &w};
    CheckpointMeta meta = {.kind = "pretrain", .step = 7, .channels = 1, .mean = {0.5},
                           .std = {0.25}, .pad = 2, .mask_json = "{\"type\":\"random\"}",
                           .decoder_json = decoder, .target_json = target, .loss_json = loss};
    SafeTensors st;
    CheckpointMeta got;
    if (checkpoint_file_write(path, &t, 1, cfg, &meta, err, errlen)) return -1;
    if (checkpoint_read(path, &st, out, &got, err, errlen)) return -1;
    safetensors_free(&st);
    return 0;
}

static void check_head_metadata(const char *path)
{
    ModelConfig cfg = model_config_default(), got;
    char err[512];
    // As the trainer writes them: the spec's sections (spec_to_json's).
    int rc = write_and_read(path, &cfg,
                            "{\"type\": \"transformer\", \"hidden\": null, \"depth\": 3, "
                            "\"embed_dim\": 64, \"num_heads\": 2}",
                            "{\"resolution\": 16}",
                            "{\"type\": \"palette\", \"scope\": \"full\", \"beta\": null, "
                            "\"bins\": null, \"palette\": 16}",
                            &got, err, sizeof err);
    test_report(rc == 0 && got.decoder.type == DECODER_TRANSFORMER && got.decoder.depth == 3 &&
                    got.decoder.embed_dim == 64 && got.decoder.num_heads == 2 &&
                    got.target_resolution == 16 && got.loss.type == LOSS_PALETTE &&
                    got.loss.palette == 16 && got.loss.full_image == 1 && got.embed_dim == 128,
                "decoder, target and loss metadata read into the config", "%s", rc ? err : "");
    rc = write_and_read(path, &cfg, "{\"type\": \"mlp\", \"hidden\": 32}", NULL,
                        "{\"type\": \"bins\", \"scope\": \"masked\", \"bins\": 8}", &got, err,
                        sizeof err);
    test_report(rc == 0 && got.decoder.type == DECODER_MLP && got.decoder.hidden == 32 &&
                    got.target_resolution == 0 && got.loss.type == LOSS_BINS &&
                    got.loss.bins == 8,
                "an absent target section is the full resolution", "%s", rc ? err : "");
    // A checkpoint from before the head sections: mask and loss {type l1, scope} only.
    rc = write_and_read(path, &cfg, NULL, NULL, "{\"type\": \"l1\", \"scope\": \"masked\"}", &got,
                        err, sizeof err);
    ModelConfig want = model_config_default();
    test_report(rc == 0 && !memcmp(&got.decoder, &want.decoder, sizeof want.decoder) &&
                    got.target_resolution == 0 &&
                    !memcmp(&got.loss, &want.loss, sizeof want.loss),
                "an old checkpoint reads as linear, full resolution, l1", "%s", rc ? err : "");
    static const struct {
        const char *decoder, *target, *loss, *field;
    } bad[] = {
        {"{\"type\": \"conv\"}", NULL, NULL, "decoder.type"},
        {"{\"type\": \"linear\", \"hidden\": 8}", NULL, NULL, "decoder.hidden"},
        {NULL, "{\"resolution\": 12}", NULL, "target.resolution"}, // no multiple of the grid 8
        {NULL, NULL, "{\"type\": \"bins\", \"bins\": 9999}", "loss.bins"},
        {"[1", NULL, NULL, "decoder"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rc = write_and_read(path, &cfg, bad[i].decoder, bad[i].target, bad[i].loss, &got, err,
                            sizeof err);
        test_report(rc == -1 && strstr(err, "invalid decoder, target or loss") &&
                        strstr(err, bad[i].field),
                    "bad head metadata refused, naming the field", "%s", err);
    }
}

// The end of every message of a head that differs.
#define KEEPS "; a continued pretraining keeps the checkpoint's"

static void expect_suits(const char *what, const ModelConfig *ckpt, const ModelConfig *spec,
                         const char *message)
{
    char err[512] = "";
    int rc = checkpoint_suits_pretraining(ckpt, spec, err, sizeof err);
    int ok = message ? rc == -1 && !strcmp(err, message) : rc == 0;
    test_report(ok, what, "%s", rc ? err : "suits");
}

static void check_suits_pretraining(void)
{
    ModelConfig ckpt = model_config_default(), spec = ckpt;
    expect_suits("the same model suits", &ckpt, &spec, NULL);
    spec.loss.type = LOSS_SMOOTH_L1;
    spec.loss.full_image = 1;
    expect_suits("l1 continues as smooth_l1 on the full image (the same prediction)", &ckpt,
                 &spec, NULL);
    spec = ckpt, spec.decoder.type = DECODER_MLP;
    expect_suits("another decoder type", &ckpt, &spec,
                 "its decoder is linear, the spec's is mlp (hidden 128)" KEEPS);
    ckpt.decoder.type = DECODER_MLP, ckpt.decoder.hidden = 128;
    expect_suits("hidden 128 given or the encoder's is the same decoder", &ckpt, &spec, NULL);
    spec.decoder.hidden = 64;
    expect_suits("another mlp width", &ckpt, &spec,
                 "its decoder is mlp (hidden 128), the spec's is mlp (hidden 64)" KEEPS);
    ckpt = model_config_default(), ckpt.decoder.type = DECODER_TRANSFORMER;
    spec = ckpt, spec.decoder.depth = 4;
    expect_suits("another transformer depth", &ckpt, &spec,
                 "its decoder is transformer (depth 2, embed_dim 128, num_heads 4), the spec's is "
                 "transformer (depth 4, embed_dim 128, num_heads 4)" KEEPS);
    spec = ckpt, spec.decoder.hidden = 999; // a size its type does not use
    expect_suits("an unused decoder size does not matter", &ckpt, &spec, NULL);
    ckpt = model_config_default(), spec = ckpt, spec.target_resolution = 16;
    expect_suits("another target resolution", &ckpt, &spec,
                 "its target.resolution is 32, the spec's is 16" KEEPS);
    spec = ckpt, spec.loss.type = LOSS_BINS;
    expect_suits("a regression continued as bins", &ckpt, &spec,
                 "its loss is a regression of the pixels (l1, l2 or smooth_l1), the spec's is "
                 "bins 256" KEEPS);
    ckpt.loss.type = LOSS_BINS, ckpt.loss.bins = 8;
    expect_suits("another bin count", &ckpt, &spec,
                 "its loss is bins 8, the spec's is bins 256" KEEPS);
    ckpt.loss.type = spec.loss.type = LOSS_PALETTE, spec.loss.palette = 16;
    expect_suits("another palette size", &ckpt, &spec,
                 "its loss is palette 512, the spec's is palette 16" KEEPS);
    ckpt = model_config_default(), spec = ckpt, spec.depth = 6;
    expect_suits("another encoder", &ckpt, &spec,
                 "its encoder is 32×32 images, patch_size 4, in_chans 1, embed_dim 128, depth 4, "
                 "num_heads 4, mlp_ratio 4, the spec's is 32×32 images, patch_size 4, in_chans 1, "
                 "embed_dim 128, depth 6, num_heads 4, mlp_ratio 4" KEEPS);
    ckpt = model_config_default(), ckpt.num_classes = 10, spec = model_config_default();
    expect_suits("a fine-tuning checkpoint", &ckpt, &spec,
                 "it is a fine-tuning checkpoint (a classifier of 10 classes); continue from a "
                 "pretraining checkpoint");
}

// A Swin's config (issue 28) is written with "arch": "swin" and its stage lists, window, ape
// and patch_norm, and read back as it was; a continued pretraining of a ViT from it is refused
// naming both encoders.
static void check_swin_config(const char *path)
{
    ModelConfig cfg = model_config_default(), got;
    model_config_preset("swin-fmnist", &cfg);
    cfg.ape = 1;
    char err[512];
    int rc = write_and_read(path, &cfg, NULL, NULL, NULL, &got, err, sizeof err);
    SafeTensors st;
    CheckpointMeta meta;
    const char *text = NULL;
    if (rc == 0 && checkpoint_read(path, &st, &got, &meta, err, sizeof err) == 0)
        text = safetensors_meta(&st, "config");
    test_report(rc == 0 && text &&
                    strcmp(text, "{\"arch\":\"swin\",\"img_size\":32,\"patch_size\":2,"
                                 "\"in_chans\":1,\"embed_dim\":48,\"depths\":[2,2,2],"
                                 "\"num_heads\":[3,6,12],\"window_size\":4,\"ape\":true,"
                                 "\"patch_norm\":true,\"mlp_ratio\":4.0,\"num_classes\":0}") == 0,
                "a Swin checkpoint's config metadata names the arch and its fields", "%s",
                text ? text : err);
    test_report(got.arch == ARCH_SWIN && got.num_stages == 3 && got.num_stage_heads == 3 &&
                    !memcmp(got.depths, cfg.depths, sizeof cfg.depths) &&
                    !memcmp(got.stage_heads, cfg.stage_heads, sizeof cfg.stage_heads) &&
                    got.window_size == 4 && got.ape == 1 && got.patch_norm == 1 &&
                    got.embed_dim == 48 && got.patch_size == 2,
                "a Swin checkpoint's config reads back as written", "arch %d, %d stages",
                (int)got.arch, got.num_stages);
    if (text) safetensors_free(&st);
    ModelConfig vit = model_config_default();
    rc = checkpoint_suits_pretraining(&cfg, &vit, err, sizeof err);
    test_report(rc == -1 && strstr(err, "its encoder is swin: 32×32 images, patch_size 2") &&
                    strstr(err, "depths [2,2,2], num_heads [3,6,12], window_size 4"),
                "a ViT does not continue a Swin's pretraining", "%s", err);
}

int main(void)
{
    char dir[] = "/tmp/test_checkpoint_file.XXXXXX", path[64];
    if (!mkdtemp(dir)) return 2;
    snprintf(path, sizeof path, "%s/step-7.safetensors", dir);
    check_head_metadata(path);
    check_suits_pretraining();
    check_swin_config(path);
    test_remove_tree(dir);
    TEST_EXIT();
}
