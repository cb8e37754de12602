// The tar shard reader (core/data/shards.c: libarchive behind shard_open and shard_next) on
// any bytes, as one shard file of a folder: listed by shards_list, then read sample by sample
// twice — with the image bytes and with SHARD_SKIP_IMAGE — and counted by shards_scan. What
// the reader promises: every result is one of the five, a sample's key is a string within
// SHARD_KEY_MAX, its index counts up from 0, its image is within SHARD_MAX_IMAGE_BYTES (and
// every byte of it readable), its label is -1 or a class index below DATA_MAX_CLASSES, a bad
// or corrupt result has a message naming the shard, nothing follows SHARD_END, SHARD_CORRUPT
// or SHARD_ERROR, and both passes and the scan agree on the samples.
#include "data/shards.h"
#include "fuzz.h"

enum { MAX_RESULTS = 100000 };

typedef struct {
    long samples, bad, labelled;
    int ended_badly; // SHARD_CORRUPT or SHARD_ERROR (or the open failed)
} Pass;

static void read_pass(const char *path, unsigned flags, Pass *p)
{
    ShardReader *r;
    ShardSample s = {0};
    char err[2048] = "";
    memset(p, 0, sizeof *p);
    if (shard_open(path, NULL, &r, err, sizeof err)) {
        fuzz_note("open refused: %s", err);
        FUZZ_CHECK(strstr(err, path) == err, "open message does not name the shard: %s", err);
        p->ended_badly = 1;
        return;
    }
    long last_index = -1;
    for (int n = 0; n < MAX_RESULTS; n++) {
        err[0] = 0;
        int rc = shard_next(r, &s, flags, err, sizeof err);
        FUZZ_CHECK(rc >= SHARD_ERROR && rc <= SHARD_CORRUPT, "result %d", rc);
        if (rc == SHARD_END) break;
        if (rc != SHARD_ERROR) {
            FUZZ_CHECK(memchr(s.key, 0, sizeof s.key) != NULL, "key not terminated");
            FUZZ_CHECK(s.index == last_index + 1 || rc == SHARD_CORRUPT, "index %ld after %ld",
                       s.index, last_index);
            last_index = rc == SHARD_CORRUPT ? last_index : s.index;
        }
        if (rc == SHARD_SAMPLE) {
            p->samples++;
            p->labelled += s.label >= 0;
            FUZZ_CHECK(s.label >= -1 && s.label < DATA_MAX_CLASSES, "label %d", s.label);
            FUZZ_CHECK(s.image_len > 0 && s.image_len <= SHARD_MAX_IMAGE_BYTES, "image of %zu",
                       s.image_len);
            FUZZ_CHECK(!strcmp(s.ext, "jpg") || !strcmp(s.ext, "jpeg") || !strcmp(s.ext, "png"),
                       "extension %s", s.ext);
            if (!(flags & SHARD_SKIP_IMAGE)) {
                FUZZ_CHECK(s.image && s.image_cap >= s.image_len, "image buffer");
                fuzz_touch_bytes(s.image, s.image_len);
            }
            continue;
        }
        fuzz_note("%d: %s", rc, err);
        FUZZ_CHECK(strstr(err, path) == err, "message does not name the shard: %s", err);
        if (rc == SHARD_BAD_SAMPLE) {
            p->bad++;
            continue;
        }
        p->ended_badly = 1;
        FUZZ_CHECK(shard_next(r, &s, flags, err, sizeof err) == SHARD_END,
                   "a result after the shard ended");
        break;
    }
    FUZZ_CHECK(shard_next(r, &s, flags, err, sizeof err) == SHARD_END, "END is not final");
    shard_close(r);
    shard_sample_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file("shard-0.tar", data, size);
    Pass with, without;
    read_pass(path, 0, &with);
    read_pass(path, SHARD_SKIP_IMAGE, &without);
    // Skipping an image's bytes changes nothing but the bytes (a truncated image may end the
    // shard where reading its bytes finds the truncation and skipping them seeks past).
    if (!with.ended_badly && !without.ended_badly)
        FUZZ_CHECK(with.samples == without.samples && with.bad == without.bad,
                   "samples %ld/%ld, bad %ld/%ld", with.samples, without.samples, with.bad,
                   without.bad);

    ShardList list;
    ShardCounts counts = {0};
    char err[2048] = "";
    if (shards_list(fuzz_dir(), "shard-*.tar", NULL, &list, err, sizeof err) == 0) {
        FUZZ_CHECK(list.count == 1, "%d shards listed", list.count);
        int rc = shards_scan(&list, NULL, &counts, NULL, NULL, err, sizeof err);
        FUZZ_CHECK(rc == 0 || err[0], "scan failed without a message");
        if (rc == 0 && !without.ended_badly)
            FUZZ_CHECK(counts.samples == without.samples && counts.bad_samples == without.bad &&
                           counts.labelled == without.labelled && counts.shards == 1,
                       "scan %ld samples, %ld bad; reading %ld, %ld", counts.samples,
                       counts.bad_samples, without.samples, without.bad);
        FUZZ_CHECK(rc != 0 || !without.ended_badly, "scan accepted a shard that ended badly");
        shards_list_free(&list);
    }
    return 0;
}
