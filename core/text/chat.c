/* chat.c - chat templates (see chat.h): recognising a model's template family from its Jinja
 * text by substrings, as llama.cpp's llm_chat_detect_template does, and rendering messages
 * as that family's prompt format.
 *
 * Uses the tokenizer only to reach the template text its vocab carries; the tokenizer never
 * calls in here. Leaves out: evaluating Jinja; tool calls; per-model whitespace stripping.
 */
#include "chat.h"

#include <string.h>

lt_chat_family lt_chat_detect(const char *tmpl) {
    if (!tmpl || !tmpl[0]) return LT_CHAT_PLAIN;
#define HAS(s) (strstr(tmpl, (s)) != NULL)
    if (HAS("<|im_start|>")) return LT_CHAT_CHATML;
    if (HAS("<|start_header_id|>") && HAS("<|end_header_id|>")) return LT_CHAT_LLAMA3;
    if (HAS("<|assistant|>") && HAS("<|end|>")) return LT_CHAT_PHI3;
    if (HAS("<|user|>")) return LT_CHAT_ZEPHYR;
    if (HAS("<start_of_turn>")) return LT_CHAT_GEMMA;
    if (HAS("[INST]")) return HAS("<<SYS>>") ? LT_CHAT_LLAMA2 : LT_CHAT_MISTRAL;
#undef HAS
    return LT_CHAT_PLAIN;
}

const char *lt_chat_family_name(lt_chat_family f) {
    switch (f) {
    case LT_CHAT_CHATML: return "chatml";
    case LT_CHAT_LLAMA3: return "llama3";
    case LT_CHAT_LLAMA2: return "llama2";
    case LT_CHAT_MISTRAL: return "mistral";
    case LT_CHAT_ZEPHYR: return "zephyr";
    case LT_CHAT_GEMMA: return "gemma";
    case LT_CHAT_PHI3: return "phi3";
    case LT_CHAT_PLAIN: break;
    }
    return "plain";
}

lt_chat_family lt_chat_family_of(const lt_tokenizer *t) {
    const lt_vocab *v = t ? lt_tok_vocab(t) : NULL;
    return lt_chat_detect(v ? v->chat_template : NULL);
}

const char *lt_chat_template_name(const lt_tokenizer *t) { return lt_chat_family_name(lt_chat_family_of(t)); }

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

size_t lt_chat_apply(lt_chat_family fam, const lt_chat_msg *msgs, int n, bool add_assistant, char *buf, size_t cap) {
    out o = {buf, cap, 0};
    if (fam == LT_CHAT_CHATML) {
        for (int i = 0; i < n; i++) {
            put(&o, "<|im_start|>");
            put(&o, role_of(&msgs[i]));
            put(&o, "\n");
            put(&o, msgs[i].content);
            put(&o, "<|im_end|>\n");
        }
        if (add_assistant) put(&o, "<|im_start|>assistant\n");
    } else if (fam == LT_CHAT_LLAMA3) {
        for (int i = 0; i < n; i++) {
            put(&o, "<|start_header_id|>");
            put(&o, role_of(&msgs[i]));
            put(&o, "<|end_header_id|>\n\n");
            put(&o, msgs[i].content);
            put(&o, "<|eot_id|>");
        }
        if (add_assistant) put(&o, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    } else if (fam == LT_CHAT_LLAMA2 || fam == LT_CHAT_MISTRAL) {
        /* llama.cpp's LLAMA_2 renderer: the generation prompt is implicit after [/INST] */
        bool sys_block = fam == LT_CHAT_LLAMA2;
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
    } else if (fam == LT_CHAT_ZEPHYR || fam == LT_CHAT_PHI3) {
        const char *end = fam == LT_CHAT_PHI3 ? "<|end|>\n" : "<|endoftext|>\n";
        for (int i = 0; i < n; i++) {
            put(&o, "<|");
            put(&o, role_of(&msgs[i]));
            put(&o, "|>\n");
            put(&o, msgs[i].content);
            put(&o, end);
        }
        if (add_assistant) put(&o, "<|assistant|>\n");
    } else if (fam == LT_CHAT_GEMMA) {
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

size_t lt_chat_render(const lt_tokenizer *t, const lt_chat_msg *msgs, int n, bool add_assistant, char *buf,
                      size_t cap) {
    return lt_chat_apply(lt_chat_family_of(t), msgs, n, add_assistant, buf, cap);
}
