// json_out's reals: the fast conversion (one correctly rounded 17-digit text, its digits
// rounded again for 16 and 15) gives exactly the text of the plain definition — the fewest
// significant digits, 15 to 17, whose %.*g reads back as the value, ".0" added to an integral
// text — for random bit patterns, float32 values widened (losses, learning rates), values whose
// dropped digits are exactly half or whose 18th digit is a 5, carries across every digit, powers of ten at every exponent,
// sixteen digits about 2^53 and both ends of the normal range.
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_out.h"
#include "test.h"

static void reference(double v, char *text, size_t cap)
{
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, cap, "%.*g", digits, v);
        if (strtod(text, NULL) == v) break;
    }
    if (!strpbrk(text, ".eEn")) strcat(text, ".0");
}

static int mismatches, halves, count;
static char first_bad[160];

static void compare(double v)
{
    if (!isfinite(v)) return; // not JSON: json_real refuses them
    count++;
    char want[48], e17[48];
    snprintf(e17, sizeof e17, "%.16e", fabs(v)); // d.dddddddddddddddde...: the 17 digits
    halves += e17[17] == '5' || (e17[16] == '5' && e17[17] == '0'); // dropped digits exactly half
    size_t len;
    reference(v, want, sizeof want);
    json_t *j = json_real(v);
    char *got = j ? json_out(j, &len) : NULL;
    if (!got || strcmp(got, want)) {
        if (!mismatches++)
            snprintf(first_bad, sizeof first_bad, "%a: got %s, want %s", v, got ? got : "(null)", want);
    }
    free(got);
    json_decref(j);
}

static uint64_t state = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) // xorshift64*
{
    state ^= state >> 12, state ^= state << 25, state ^= state >> 27;
    return state * 0x2545f4914f6cdd1dull;
}

// text_one_line on the inputs error messages echo: control characters, invalid and cut
// UTF-8, overlong forms and surrogates become '?', valid characters stay; json_text keeps a
// valid character of a text that is not UTF-8 as a whole.
static void test_text_one_line(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain ascii", "plain ascii"},
        {"a\nb\tc\x16" "d\x7f", "a?b?c?d?"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"cut \xe2\x82", "cut ??"},
        {"lone \x9f\xff", "lone ??"},
        {"overlong \xc0\xaf", "overlong ??"},
        {"surrogate \xed\xa0\x80", "surrogate ???"},
        {"past U+10FFFF \xf4\x90\x80\x80", "past U+10FFFF ????"},
    };
    int ok = 1;
    char first[200] = "";
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[64];
        snprintf(text, sizeof text, "%s", cases[i].in);
        text_one_line(text);
        if (strcmp(text, cases[i].out) && ok) {
            ok = 0;
            snprintf(first, sizeof first, "case %zu gave '%s'", i, text);
        }
    }
    test_report(ok, "text_one_line: control characters and bad UTF-8 become '?', characters stay",
                "%s", first);
    json_t *j = json_text("caf\xc3\xa9 \x9f\n");
    test_report(j && strcmp(json_string_value(j), "caf\xc3\xa9 ??") == 0,
                "json_text: a text that is not UTF-8 keeps its valid characters", "%s",
                j ? json_string_value(j) : "NULL");
    json_decref(j);
}

int main(void)
{
    test_text_one_line();
    // JSON_OUT_SCALE=N runs N times as many random cases (by hand: 60, 5.1 million, took 40 s).
    int scale = getenv("JSON_OUT_SCALE") ? atoi(getenv("JSON_OUT_SCALE")) : 1;
    for (int i = 0; i < 50000 * scale; i++) { // any finite bit pattern
        uint64_t bits = next();
        double v;
        memcpy(&v, &bits, sizeof v);
        if (isfinite(v)) compare(v);
    }
    for (int i = 0; i < 25000 * scale; i++) { // float32 widened, in the ranges metrics take
        float f = (float)((next() >> 11) * 0x1.0p-53) * powf(10.0f, (float)((int)(next() % 12) - 8));
        compare((double)f);
        compare(-(double)f);
    }
    for (int i = 0; i < 10000 * scale; i++) { // decimals with 15 or 16 digits, and beside them
        char text[48];
        snprintf(text, sizeof text, "%llu5e%d", (unsigned long long)(next() % 1000000000000000ull),
                 (int)(next() % 40) - 30);
        double v = strtod(text, NULL);
        compare(v), compare(nextafter(v, 0)), compare(nextafter(v, INFINITY));
        snprintf(text, sizeof text, "%llu50e%d", (unsigned long long)(next() % 100000000000000ull),
                 (int)(next() % 40) - 30);
        v = strtod(text, NULL);
        compare(v), compare(nextafter(v, 0)), compare(nextafter(v, INFINITY));
    }
    for (int e = -307; e <= 308; e++) { // powers of ten, 9.99…9 carries, integers
        double p = pow(10.0, e);
        compare(p), compare(nextafter(p, 0)), compare(nextafter(p, INFINITY));
        compare(9.999999999999999 * p), compare(9.9999999999999999 * p), compare(-p);
    }
    for (int i = 0; i < 10000 * scale; i++) { // 17 digits and a half: hard for the 17 digits
        char text[48];
        snprintf(text, sizeof text, "%llu5e%d",
                 10000000000000000ull + (unsigned long long)(next() % 90000000000000000ull),
                 (int)(next() % 50) - 40);
        double v = strtod(text, NULL);
        compare(v), compare(nextafter(v, 0)), compare(nextafter(v, INFINITY));
    }
    for (int k = -40; k <= 25; k++) { // 16 digits about 2^53, where the exact test ends
        for (long long m = 9007199254740980LL; m <= 9007199254741010LL; m++) {
            char text[48];
            snprintf(text, sizeof text, "%llde%d", m, k);
            double v = strtod(text, NULL);
            compare(v), compare(nextafter(v, 0)), compare(nextafter(v, INFINITY));
        }
    }
    double special[] = {DBL_MIN, DBL_MAX, -DBL_MAX, DBL_MIN * 0.5, 5e-324, 0.0, -0.0, 1.0, 0.1, 1e15,
                        1e16, 1e17, 123456789012345678.0, 0.0001, 0.00001, 1e-5 * 3, 2.5, 1e21};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++) compare(special[i]);
    test_report(mismatches == 0, "reals are written as the fewest of 15-17 digits that read back",
                "%d mismatches in %d cases (%d with the dropped digits exactly half)%s%s", mismatches,
                count, halves, mismatches ? "; first: " : "", first_bad);
    TEST_EXIT();
}
