/* fuzz_unet_config.c - a diffusers UNet2DModel config.json through lt_unet_config_parse (block
 * types, channel lists, sample_size as an int or [h, w], the time and class embedding keys, the
 * keys lathe refuses by name), and, after a NUL, a scheduler_config.json through
 * lt_diffusers_sched_timesteps (what the UNet reads of it).
 * Input: config.json text [NUL scheduler_config.json text].
 * Seeds: tests/fuzz/corpus/unet_config (the committed tests/fixtures/unet configs).
 */
#include "fuzz_common.h"

#include "core/formats/diffusers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t mem0 = lt_mem_used();
    size_t n_cfg, n_s;
    const uint8_t *s;
    fz_split(data, size, &n_cfg, &s, &n_s);
    lt_unet_config u;
    lt_err err = {0};
    lt_status st = lt_unet_config_parse((const char *)data, n_cfg, "fuzz/config.json", &u, &err);
    FZ_EXPECT_MSG(st, err, "lt_unet_config_parse");
    if (st == LT_OK) {
        /* what the model builds from: levels within the arrays, positive sizes */
        if (u.n_levels < 1 || u.n_levels > LT_UNET_MAX_LEVELS || u.sample_h < 1 || u.sample_w < 1 ||
            u.in_channels < 1 || u.out_channels < 1 || u.layers_per_block < 1 || u.norm_num_groups < 1 ||
            u.time_embed_dim < 1) {
            fprintf(stderr, "fuzz: lt_unet_config_parse accepted n_levels %d, sample %dx%d, channels %d/%d, layers %d, "
                            "groups %d, time dim %d\n",
                    u.n_levels, u.sample_h, u.sample_w, u.in_channels, u.out_channels, u.layers_per_block,
                    u.norm_num_groups, u.time_embed_dim);
            abort();
        }
        for (int i = 0; i < u.n_levels; i++)
            fz_sink ^= (uint8_t)(u.block_out[i] ^ u.down_attn[i] ^ u.up_attn[i]);
        fz_sink ^= (uint8_t)(u.time_type ^ u.class_type ^ u.num_class_embeds ^ u.attention_head_dim ^
                             u.num_train_timesteps ^ (u.norm_eps > 0));
    }
    if (s) {
        int steps = 0;
        err = (lt_err){0};
        st = lt_diffusers_sched_timesteps((const char *)s, n_s, "fuzz/scheduler_config.json", &steps, &err);
        FZ_EXPECT_MSG(st, err, "lt_diffusers_sched_timesteps");
        fz_sink ^= (uint8_t)steps;
    }
    fz_check_mem(mem0, "unet_config");
    return 0;
}
