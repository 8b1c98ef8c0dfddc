/* cmds.h - the built-in command families of the command language, one file each (tmux's
 * cmd-*.c style), all written against the public session API (core/app/session.h):
 *   model.c    load, unload, models
 *   chat.c     chat, generate, reset
 *   bench.c    bench
 *   serve.c    bench serve (dispatched by bench.c)
 *   spec.c     spec
 *   session.c  set, session save, replay, help, quit

 *   detect.c   detect (its own header, detect.h)
 *   imagine.c  imagine (its own header, imagine.h)
 *   compress.c quantize, compress, save
 *   eval.c     eval ppl, compare
 * A session gets them through lt_session_opts.tables = lt_cmd_builtin; a new family adds its
 * table here and to lt_cmd_builtin in session.c.
 * Leaves out: front ends (tui/), what the commands run (core/llm, core/vision, ...).
 */
#ifndef LT_CMDS_H
#define LT_CMDS_H

#include "core/app/session.h"

extern const lt_cmd_table lt_cmd_model_table;
extern const lt_cmd_table lt_cmd_chat_table;
extern const lt_cmd_table lt_cmd_bench_table;
extern const lt_cmd_table lt_cmd_spec_table;
extern const lt_cmd_table lt_cmd_session_table;
extern const lt_cmd_table lt_cmd_eval_table;
extern const lt_cmd_table lt_cmd_compress_table;

/* `bench serve [options]` (serve.c): a is the whole `bench serve ...` line. */
lt_status lt_cmd_bench_serve(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err);

/* Every built-in table, NULL-terminated, in the order `help` lists them. */
extern const lt_cmd_table *const lt_cmd_builtin[];

/* "stories260K" from "models/stories260K.bin" (the last path element without its extension). */
const char *lt_cmd_base_name(const char *path, char *buf, size_t cap);

/* Opens a language model that is not loaded into the session (a draft, a base model): the
 * file at path or synthetic:PRESET, with the session's opener on backend be (model.c). With
 * tok, also its tokenizer (*tok NULL when it has none; a llama2.c model's tokenizer.bin is
 * looked up beside it). lo may be NULL. */
lt_status lt_cmd_open_lm(lt_session *s, const char *path, lt_backend *be, const lt_lm_opts *lo, lt_lm **out,
                         lt_tokenizer **tok, lt_err *err);

/* `load`'s work once its arguments are read (model.c): opens the file at path (or
 * synthetic:PRESET) under name (NULL: from the path) with tokenizer file tokp (may be NULL)
 * and a context of ctx tokens, adds it to the session as the current model and reports it;
 * Esc while loading cancels. `compress ... as NAME` loads its result through this. */
lt_status lt_cmd_load_lm(lt_session *s, const char *path, const char *name, const char *tokp, int ctx, lt_sink *sink,
                         lt_err *err);

#endif
