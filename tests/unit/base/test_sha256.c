// SHA-256 against FIPS 180-4's published examples, including a multi-block message and a
// message split across updates at every offset.
#include <string.h>

#include "base/sha256.h"
#include "test.h"

static void check_digest(const char *name, const char *msg, size_t len, const char *expect)
{
    Sha256 h;
    char hex[65];
    sha256_init(&h);
    sha256_update(&h, msg, len);
    sha256_final(&h, hex);
    test_report(strcmp(hex, expect) == 0, name, "%s", hex);
}

int main(void)
{
    check_digest("empty message", "", 0,
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_digest("abc", "abc", 3,
                 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_digest("448-bit message", two_blocks, strlen(two_blocks),
                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    int all_ok = 1;
    for (size_t split = 0; split <= strlen(two_blocks); split++) {
        Sha256 h;
        char hex[65];
        sha256_init(&h);
        sha256_update(&h, two_blocks, split);
        sha256_update(&h, two_blocks + split, strlen(two_blocks) - split);
        sha256_final(&h, hex);
        all_ok &= strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0;
    }
    test_report(all_ok, "split updates give the same digest", "all split points");
    static char million[1000000];
    memset(million, 'a', sizeof million);
    check_digest("one million 'a'", million, sizeof million,
                 "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    TEST_EXIT();
}
