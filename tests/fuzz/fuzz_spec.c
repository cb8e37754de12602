// The job-spec parser (core/spec/spec.h) on any bytes: spec_parse must not crash, and its
// error is one line of valid UTF-8 naming a field; a spec it accepts must survive the round
// trip spec_to_json → spec_parse → spec_to_json unchanged, and so must a spec from a
// checkpoint (fine-tuning or continued pretraining) after spec_adopt_model of its model.
#include <string.h>

#include "fuzz.h"
#include "spec/spec.h"

// spec serialized, parsed again and serialized again: the same text.
static void round_trip(const JobSpec *spec, const char *what)
{
    char *text = spec_to_json(spec);
    FUZZ_CHECK(text != NULL, "spec_to_json refused a spec spec_parse accepted (%s)", what);
    JobSpec again;
    SpecError err;
    int rc = spec_parse(text, strlen(text), &again, &err);
    FUZZ_CHECK(rc == 0, "%s: spec_to_json wrote %s, which spec_parse refuses: %s", what, text,
               err.message);
    char *text2 = spec_to_json(&again);
    FUZZ_CHECK(text2 && strcmp(text, text2) == 0, "%s: %s read back as %s", what, text,
               text2 ? text2 : "NULL");
    free(text);
    free(text2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    JobSpec spec;
    SpecError err;
    memset(&spec, 0xA5, sizeof spec);
    if (spec_parse((const char *)data, size, &spec, &err)) {
        fuzz_note("refused: %s", err.message);
        FUZZ_CHECK(fuzz_one_line_utf8(err.message, sizeof err.message) && err.message[0],
                   "the error message is empty or not one line of UTF-8");
        FUZZ_CHECK(fuzz_one_line_utf8(err.field, sizeof err.field), "the error field is not UTF-8");
        return 0;
    }
    fuzz_note("accepted: %s job", spec.kind == JOB_FINETUNE ? "finetune" : "pretrain");
    round_trip(&spec, "parsed");
    if (spec.init_from.form != REF_NONE) {
        ModelConfig from = model_config_default();
        if (spec_adopt_model(&spec, &from, &err) == 0) round_trip(&spec, "adopted");
        else
            FUZZ_CHECK(fuzz_one_line_utf8(err.message, sizeof err.message),
                       "spec_adopt_model's error is not one line of UTF-8");
    }
    return 0;
}
