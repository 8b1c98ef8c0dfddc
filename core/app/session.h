/* session.h - the workbench's state and its one entry point: lt_session_exec(s, line).
 *
 * A session holds the loaded models by name (language models as conversations, core/llm/conv.h:
 * the model with its backend, KV cache, tokenizer, chat state and speculative decoder; other
 * kinds of loaded objects through lt_session_put_object), the settings (core/app/settings.h),
 * the command registry (filled with the tables the creator passes: core/cmd/cmds.h has the
 * built-in ones), the metrics ring and an optional journal. Commands use only this API.
 * Events (streamed text, progress) flow up through an lt_sink; a job stops early when
 * lt_session_cancel is called from another thread (or the sink's cancel flag is set).
 *
 * core never depends on models/: the creator passes the functions that open models.
 * Leaves out: drawing (tui/), NVML (the front end reports utilisation).
 */
#ifndef LT_SESSION_H
#define LT_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "commands.h"
#include "core/base/digest.h"
#include "core/compress/report.h"
#include "core/diffusion/denoiser.h"
#include "core/formats/image.h"
#include "core/llm/conv.h"
#include "core/llm/engine.h"
#include "core/llm/sampler.h"
#include "core/vision/detector.h"
#include "metrics.h"
#include "settings.h"

typedef enum lt_text_kind {
    LT_TEXT_USER = 0, /* the user's prompt, echoed into the transcript */
    LT_TEXT_MODEL,    /* streamed model output */
    LT_TEXT_INFO,     /* command output (tables, reports) */
    LT_TEXT_ERROR,    /* non-fatal problems reported while a command runs */
    LT_TEXT_MODEL_DRAFT, /* model output that was an accepted speculative draft; only sent to sinks
                          * with tint set (and `set tint on`), others get LT_TEXT_MODEL */
} lt_text_kind;

/* Where a running command sends its events. Every member may be NULL. Callbacks run on
 * the thread that called lt_session_exec. */
struct lt_sink {
    void *ud;
    void (*text)(void *ud, lt_text_kind kind, const char *s, size_t n);
    /* what: "load", "bench"...; frac in [0, 1]. */
    void (*progress)(void *ud, const char *what, double frac);
    bool tint; /* the sink tells accepted draft tokens apart (LT_TEXT_MODEL_DRAFT) */
    /* An image for the front end to show (the annotated result of `detect`, an `imagine` image
     * while it forms) with lines of text: lines[0] is a heading ("2 detections", "step 20/50"),
     * the rest one per item (a detection); img and lines are valid during the call only. A
     * later preview replaces the one shown. */
    void (*preview)(void *ud, const lt_image *img, const char *const *lines, int n_lines);
};

/* Reports progress to a sink (no-op for a NULL sink or callback). */
void lt_sink_progress(lt_sink *sink, const char *what, double frac);

/* Sends a preview to a sink (no-op for a NULL sink or callback). */
void lt_sink_preview(lt_sink *sink, const lt_image *img, const char *const *lines, int n_lines);

/* Prints formatted text to a sink (no-op for a NULL sink or callback). */
void lt_sink_printf(lt_sink *sink, lt_text_kind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Opens a synthetic model by preset name (models/ supplies it: lt_llama_open_preset). */
typedef lt_status (*lt_lm_synth_fn)(lt_lm **out, const char *preset, lt_backend *be, const lt_lm_opts *o,
                                    lt_err *err);

typedef struct lt_session_opts {
    lt_lm_open_fn open_lm;        /* opens a model source (lt_llama_open); NULL = loading files fails */
    lt_lm_synth_fn open_synthetic; /* `load synthetic:PRESET`; may be NULL */
    lt_detector_open_fn open_detector; /* opens a detector for `detect` (lt_yolo_open_detector); may be NULL */
    lt_denoiser_open_fn open_denoiser; /* opens a UNet folder for `imagine` (lt_unet_open); may be NULL */
    const char *state_dir;        /* journal under STATE/sessions/ when journal is set */
    bool journal;                 /* record every command to a new session file */
    const char *device;           /* initial `device` setting (NULL = "auto") */
    int threads;                  /* initial `threads` setting (0 = all cores) */
    const lt_cmd_table *const *tables; /* command tables to register, NULL-terminated (may be NULL) */
    int replay_depth;             /* replays this session runs inside (a replay's fresh session: +1) */
} lt_session_opts;

typedef struct lt_session lt_session;

/* Creates a session (o may be NULL: no opener, no commands, no journal); with o->journal it
 * creates STATE/sessions/<timestamp>-<pid>.lathe, and failing to is an error. */
lt_status lt_session_create(lt_session **out, const lt_session_opts *o, lt_err *err);
void lt_session_free(lt_session *s); /* NULL is a no-op; closes the journal */

/* Runs one command line ("load m.gguf as a", "set temp 0.7", "chat hello"). A leading '/'
 * is accepted; blank lines and '#' comments do nothing. On failure err holds the message
 * and the previous state is intact. A cancelled job returns LT_OK with its partial result
 * (lt_session_last(s)->cancelled). */
lt_status lt_session_exec(lt_session *s, const char *line, lt_sink *sink, lt_err *err);

/* Replay overrides for the next lt_session_exec: a generation produces exactly n_tokens
 * tokens (a cancelled command is replayed up to where it was cancelled). < 0 = none. */
void lt_session_set_token_limit(lt_session *s, int n_tokens);

/* Asks the running command to stop soon (any thread). Cleared when the next command starts. */
void lt_session_cancel(lt_session *s);
/* True once lt_session_cancel was called during the running command (commands poll it). */
bool lt_session_cancelled(const lt_session *s);

/* The result of the last executed command. */
typedef struct lt_result {
    char cmd[32];         /* canonical command name ("" when none ran) */
    lt_status code;
    char msg[LT_ERR_MSG_MAX];
    bool has_digest;
    uint64_t digest;      /* FNV-1a 64 of the result (token ids for generation) */
    int n_tokens;         /* generated tokens (or what unit names) */
    const char *unit;     /* what n_tokens counts when not tokens ("steps": imagine); NULL = tokens */
    uint64_t seed;        /* sampler seed used (generation) */
    bool cancelled;
    double seconds;
    /* generation commands (chat, generate): why the reply ended - LT_GEN_STOP_EOG (the model
     * ended its turn), _LENGTH (max-tokens), _STRING (a stop sequence: stop_text), _CONTEXT,
     * _CANCEL; has_stop false for other commands */
    bool has_stop;
    lt_gen_stop stop;
    char stop_text[64];
} lt_result;
/* The result of the last command that ran (unknown commands and usage errors do not run). */
const lt_result *lt_session_last(const lt_session *s);

/* True after `quit`. */
bool lt_session_quit_requested(const lt_session *s);
/* Asks the front end to leave (what `quit` does). */
void lt_session_request_quit(lt_session *s);
/* The options the session was created with (a replay creates a fresh session with them). */
const lt_session_opts *lt_session_options(const lt_session *s);

/* The command registry (for palettes, help, completion). */
const lt_cmds *lt_session_commands(const lt_session *s);
/* Registers another table of commands (explicitly, by the feature's creator). */
lt_status lt_session_add_commands(lt_session *s, const lt_cmd_table *t, lt_err *err);

/* The journal file being written, or NULL. */
const char *lt_session_journal_path(const lt_session *s);

/* ---- models ---------------------------------------------------------------------------- */

typedef struct lt_model_info {
    char name[64];
    char kind[16];    /* "llm", or an extension's kind ("detector") */
    char format[16];  /* "gguf", "hf", "llama2c", "synthetic" */
    char dtype[16];
    char device[96];
    size_t bytes;
    int ctx;
    bool current;
} lt_model_info;

/* Copies up to cap entries (thread-safe, for panes); returns the number loaded. */
int lt_session_models(lt_session *s, lt_model_info *out, int cap);

/* The language model `name` (NULL = current) with its tokenizer (may be NULL) and cache.
 * LT_ENOTFOUND when there is none. */
lt_status lt_session_get_lm(lt_session *s, const char *name, lt_lm **lm, lt_tokenizer **tok, lt_kv_cache **kv,
                            lt_err *err);
/* The conversation of language model `name` (NULL = current: "no model loaded - 'load PATH'
 * first" when there is none) and the model's name (valid while it stays loaded). */
lt_status lt_session_llm(lt_session *s, const char *name, lt_conv **conv, const char **model_name, lt_err *err);
/* Adds a language model under name and makes it current; takes ownership of conv (freed on
 * failure). format: "gguf", "hf", "llama2c", "synthetic". */
lt_status lt_session_add_llm(lt_session *s, const char *name, const char *format, lt_conv *conv, lt_err *err);
/* Remembers the file language model `name` was loaded from and the tokenizer file given with
 * it (NULL: none), for commands that read the source again (quantize). */
lt_status lt_session_set_model_source(lt_session *s, const char *name, const char *path, const char *tokenizer,
                                      lt_err *err);
/* The source file of language model `name` (NULL = current) as `load` was given it, its
 * tokenizer file (NULL when none) and the model's name; valid while the model stays loaded.
 * LT_ENOTFOUND for a model that came from no file (synthetic) or none loaded. */
lt_status lt_session_model_source(lt_session *s, const char *name, const char **model_name, const char **path,
                                  const char **tokenizer, lt_err *err);
/* Makes language model `name` current ("no language model named 'x' is loaded (loaded: a,
 * b)" when there is none). */
lt_status lt_session_use(lt_session *s, const char *name, lt_err *err);
/* True when a model (of any kind) named name is loaded. */
bool lt_session_has_model(lt_session *s, const char *name);
/* Frees model `name` (NULL = the current language model); its name goes to unloaded. The
 * last other language model becomes current. */
lt_status lt_session_unload(lt_session *s, const char *name, char *unloaded, size_t cap, lt_err *err);

/* Generic slot for other kinds of loaded models: takes ownership of obj (close(obj) runs at
 * unload / free). A name already in use is LT_EINVAL. */
lt_status lt_session_put_object(lt_session *s, const char *name, const char *kind, void *obj, void (*close)(void *),
                                size_t bytes, const char *device, lt_err *err);
/* The object named name of this kind, or NULL. */
void *lt_session_get_object(lt_session *s, const char *name, const char *kind);

/* ---- for commands registered by other modules ------------------------------------------ */

/* Reports the result digest of the running command (for the journal and replay). */
void lt_session_set_digest(lt_session *s, uint64_t digest);
/* The running command's result, to fill n_tokens, seed and cancelled. */
lt_result *lt_session_result(lt_session *s);
/* During a replay of a cancelled command: the number of tokens to produce; else -1. */
int lt_session_token_limit(const lt_session *s);
/* Sampler parameters from the settings with the next generation seed (seed + k for the
 * k-th generation since `set seed`), as chat and generate use them. */
lt_sampler_params lt_session_sampler_params(lt_session *s);
/* Reports throughput for the panes: prefill tok/s, live decode tok/s (0 when done), last
 * finished decode tok/s; a negative value leaves that one unchanged. */
void lt_session_report_rates(lt_session *s, double prefill, double decode_live, double decode_last);

/* The last compression report (`compare`), for its pane: set copies r in; get copies it out
 * and returns false when there is none. Thread-safe. */
void lt_session_set_creport(lt_session *s, const lt_creport *r);
bool lt_session_creport(lt_session *s, lt_creport *out);

/* The serve pane's state (`bench serve`): the engine's snapshot of the running (or the last)
 * run. */
typedef struct lt_serve_view {
    bool running;          /* a run is going */
    char title[64];        /* what runs: "sarathi 512" */
    int done, total;       /* requests finished, in the run */
    lt_engine_snapshot eng;
    bool over_report;      /* (get) set after the last `compare` report: drawn in its place */
} lt_serve_view;
/* Set copies v in (any thread); get copies it out and returns false when none was set.
 * Thread-safe. */
void lt_session_set_serve(lt_session *s, const lt_serve_view *v);
bool lt_session_serve(lt_session *s, lt_serve_view *out);

/* ---- settings ---------------------------------------------------------------------------- */

/* The settings in force (changed only by `set`). */
const lt_settings *lt_session_settings(const lt_session *s);
/* Replaces the settings; restart_seeds starts the sequence of generation seeds over (a new
 * `set seed`). */
void lt_session_update_settings(lt_session *s, const lt_settings *t, bool restart_seeds);

/* ---- metrics ---------------------------------------------------------------------------- */

/* The session's metrics ring (what lt_session_sample appended). */
lt_metrics *lt_session_metrics(lt_session *s);
/* Fills a sample from the session's state now (memory by category of all loaded models,
 * KV blocks, latest rates; util = -1) and appends it to the ring. Thread-safe. */
void lt_session_sample(lt_session *s, lt_metric_sample *out);
/* Name of the device the current model runs on (or the host's when none). */
void lt_session_device_name(lt_session *s, char *buf, size_t cap, bool *is_host);

#endif
