/* chat.c - chat prompt rendering for the common template families, recognised from the
 * model's Jinja template by substrings as llama.cpp's llm_chat_detect_template does.
 *
 * Families: chatml (<|im_start|>, Qwen2), llama3, llama2 ([INST] with <<SYS>>), mistral
 * ([INST] without <<SYS>>), zephyr (<|user|>), gemma (<start_of_turn>), phi3 (<|end|>);
 * anything else (or no template) renders plain "role: content" lines.
 * Leaves out: evaluating Jinja; tool calls; per-model whitespace stripping.
 */
#include <stdbool.h>
#include <string.h>

#include "core/base/alloc.h"
#include "tok_internal.h"
#include "tokenizer.h"

const char *lt_chat_detect(const char *tmpl) {
    if (!tmpl || !tmpl[0]) return "plain";
#define HAS(s) (strstr(tmpl, (s)) != NULL)
    if (HAS("<|im_start|>")) return "chatml";
    if (HAS("<|start_header_id|>") && HAS("<|end_header_id|>")) return "llama3";
    if (HAS("<|assistant|>") && HAS("<|end|>")) return "phi3";
    if (HAS("<|user|>")) return "zephyr";
    if (HAS("<start_of_turn>")) return "gemma";
    if (HAS("[INST]")) return HAS("<<SYS>>") ? "llama2" : "mistral";
#undef HAS
    return "plain";
}

const char *lt_chat_template_name(const lt_tokenizer *t) { return lt_tok_chat_family(t); }

typedef struct out {
    char *buf;
    size_t cap, n;
} out;

static void put(out *o, const char *s) {
    size_t l = s ? strlen(s) : 0;
    if (o->buf && o->cap && o->n < o->cap - 1) {
        size_t room = o->cap - 1 - o->n, w = l < room ? l : room;
        memcpy(o->buf + o->n, s, w);
    }
    o->n += l;
}

static const char *role_of(const lt_chat_msg *m) { return m->role ? m->role : "user"; }

size_t lt_chat_render(const lt_tokenizer *t, const lt_chat_msg *msgs, int n, bool add_assistant, char *buf,
                      size_t cap) {
    out o = {buf, cap, 0};
    const char *fam = lt_tok_chat_family(t);
    if (!strcmp(fam, "chatml")) {
        for (int i = 0; i < n; i++) {
            put(&o, "<|im_start|>");
            put(&o, role_of(&msgs[i]));
            put(&o, "\n");
            put(&o, msgs[i].content);
            put(&o, "<|im_end|>\n");
        }
        if (add_assistant) put(&o, "<|im_start|>assistant\n");
    } else if (!strcmp(fam, "llama3")) {
        for (int i = 0; i < n; i++) {
            put(&o, "<|start_header_id|>");
            put(&o, role_of(&msgs[i]));
            put(&o, "<|end_header_id|>\n\n");
            put(&o, msgs[i].content);
            put(&o, "<|eot_id|>");
        }
        if (add_assistant) put(&o, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    } else if (!strcmp(fam, "llama2") || !strcmp(fam, "mistral")) {
        /* llama.cpp's LLAMA_2 renderer: the generation prompt is implicit after [/INST] */
        bool sys_block = !strcmp(fam, "llama2");
        bool inside = true;
        put(&o, "[INST] ");
        for (int i = 0; i < n; i++) {
            const char *r = role_of(&msgs[i]);
            if (!inside) {
                inside = true;
                put(&o, "[INST] ");
            }
            if (!strcmp(r, "system")) {
                if (sys_block) {
                    put(&o, "<<SYS>>\n");
                    put(&o, msgs[i].content);
                    put(&o, "\n<</SYS>>\n\n");
                } else {
                    put(&o, msgs[i].content);
                    put(&o, "\n");
                }
            } else if (!strcmp(r, "user")) {
                put(&o, msgs[i].content);
                put(&o, " [/INST]");
            } else {
                put(&o, msgs[i].content);
                put(&o, "</s>");
                inside = false;
            }
        }
    } else if (!strcmp(fam, "zephyr") || !strcmp(fam, "phi3")) {
        const char *end = !strcmp(fam, "phi3") ? "<|end|>\n" : "<|endoftext|>\n";
        for (int i = 0; i < n; i++) {
            put(&o, "<|");
            put(&o, role_of(&msgs[i]));
            put(&o, "|>\n");
            put(&o, msgs[i].content);
            put(&o, end);
        }
        if (add_assistant) put(&o, "<|assistant|>\n");
    } else if (!strcmp(fam, "gemma")) {
        /* no system role: the system text is prepended to the next user turn */
        const char *sys = NULL;
        for (int i = 0; i < n; i++) {
            const char *r = role_of(&msgs[i]);
            if (!strcmp(r, "system")) {
                sys = msgs[i].content;
                continue;
            }
            put(&o, "<start_of_turn>");
            put(&o, !strcmp(r, "assistant") ? "model" : r);
            put(&o, "\n");
            if (sys && !strcmp(r, "user")) {
                put(&o, sys);
                put(&o, "\n\n");
                sys = NULL;
            }
            put(&o, msgs[i].content);
            put(&o, "<end_of_turn>\n");
        }
        if (add_assistant) put(&o, "<start_of_turn>model\n");
    } else {
        for (int i = 0; i < n; i++) {
            put(&o, role_of(&msgs[i]));
            put(&o, ": ");
            put(&o, msgs[i].content);
            put(&o, "\n");
        }
        if (add_assistant) put(&o, "assistant: ");
    }
    if (buf && cap) buf[o.n < cap ? o.n : cap - 1] = 0;
    return o.n;
}
