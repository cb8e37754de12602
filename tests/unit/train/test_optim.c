// The learning-rate schedule has its documented shape: linear warmup from 0 to lr, then a
// cosine down to min_lr at total_steps, and min_lr after.
#include <math.h>

#include "test.h"
#include "train/optim.h"

static void check_lr_schedule(void)
{
    OptimConfig oc = {.lr = 1e-3, .min_lr = 1e-5, .warmup_steps = 10, .total_steps = 100};
    double at0 = lr_at(&oc, 0), at_warm = lr_at(&oc, 10), at_total = lr_at(&oc, 100);
    test_report(at0 == 0.0, "lr_at(0) is 0", "%g", at0);
    test_report(fabs(at_warm - oc.lr) <= 1e-15, "lr_at(warmup) is lr", "%.17g", at_warm);
    test_report(fabs(at_total - oc.min_lr) <= 1e-15, "lr_at(total) is min_lr", "%.17g", at_total);
    test_report(fabs(lr_at(&oc, 5) - 0.5 * oc.lr) <= 1e-15, "warmup is linear", "lr_at(5) %g",
                lr_at(&oc, 5));
    test_report(fabs(lr_at(&oc, 55) - 0.5 * (oc.lr + oc.min_lr)) <= 1e-15,
                "the cosine is halfway at the middle", "lr_at(55) %.17g", lr_at(&oc, 55));
    int rising = 1, falling = 1;
    for (long t = 1; t <= 10; t++) rising &= lr_at(&oc, t) > lr_at(&oc, t - 1);
    for (long t = 11; t <= 100; t++) falling &= lr_at(&oc, t) < lr_at(&oc, t - 1);
    test_report(rising, "lr rises strictly during warmup", "");
    test_report(falling, "lr falls strictly after warmup", "");
    int stays = 1;
    for (long t = 100; t <= 120; t++) stays &= lr_at(&oc, t) == at_total;
    test_report(stays, "lr stays at min_lr after total", "");
    OptimConfig no_warmup = oc;
    no_warmup.warmup_steps = 0;
    test_report(lr_at(&no_warmup, 0) == oc.lr, "without warmup lr_at(0) is lr", "%g",
                lr_at(&no_warmup, 0));
}

int main(void)
{
    check_lr_schedule();
    TEST_EXIT();
}
