/* fuzz_sched_config.c - a diffusers scheduler_config.json through lt_sched_config_parse (as its
 * own _class_name says, and as ddpm, ddim and euler), and every config it accepts through
 * lt_scheduler_create (betas, alphas_cumprod, the three timestep spacings, Euler's sigmas) and
 * each step of a short schedule on a tiny sample (the formulas, clipping, thresholding).
 * Input: scheduler_config.json text.
 * Seeds: tests/fuzz/corpus/sched_config (the configs of tests/fixtures/sched and
 * tests/fixtures/imagine, google_old's).
 */
#include "fuzz_common.h"

#include "core/diffusion/scheduler.h"

static void run(const lt_sched_config *c, int steps, double eta) {
    lt_scheduler *s = NULL;
    lt_err err = {0};
    lt_status st = lt_scheduler_create(&s, c, steps, eta, &err);
    FZ_EXPECT_MSG(st, err, "lt_scheduler_create");
    if (st != LT_OK) return;
    float x[4] = {0.5f, -1.25f, 2.0f, -0.1f}, m[4], z[4] = {0.3f, -0.7f, 1.1f, -2.0f}, x0[4];
    fz_sink ^= (uint8_t)(lt_scheduler_init_sigma(s) > 1);
    fz_touch(lt_scheduler_alphas_cumprod(s), sizeof(float) * (size_t)c->num_train_timesteps);
    for (int i = 0; i < lt_scheduler_steps(s); i++) {
        double t = lt_scheduler_timestep(s, i), sc = lt_scheduler_input_scale(s, i);
        for (int j = 0; j < 4; j++) m[j] = (float)(0.5 * x[j] * sc + 0.75 * (t / 1000));
        err = (lt_err){0};
        st = lt_scheduler_step(s, i, m, x, lt_scheduler_step_draws(s, i) ? z : NULL, x0, 2, 2, &err);
        FZ_EXPECT_MSG(st, err, "lt_scheduler_step");
        if (st != LT_OK) break;
        fz_touch(x0, sizeof x0);
    }
    lt_scheduler_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t mem0 = lt_mem_used();
    static const char *const kinds[] = {NULL, "ddpm", "ddim", "euler"};
    for (int k = 0; k < 4; k++) {
        lt_sched_config c;
        lt_err err = {0};
        lt_status st = lt_sched_config_parse((const char *)data, size, "fuzz/scheduler_config.json", kinds[k], &c, &err);
        FZ_EXPECT_MSG(st, err, "lt_sched_config_parse");
        if (st != LT_OK) continue;
        int n = c.num_train_timesteps;
        run(&c, n < 10 ? n : 10, 0);
        if (c.kind == LT_SCHED_DDIM) run(&c, n < 7 ? n : 7, 0.5);
        if (n <= 1000) run(&c, n, 0); /* every timestep (longer schedules cost the fuzzer too much) */
        run(&c, n + 1, 0);            /* refused */
    }
    fz_check_mem(mem0, "sched_config");
    return 0;
}
