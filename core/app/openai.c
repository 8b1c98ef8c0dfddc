/* openai.c - see openai.h. */
#include "openai.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/text/chat.h"

static lt_status fault(lt_oai_fault *f, lt_err *err, const char *param, const char *code, const char *fmt,
                       const char *a) {
    snprintf(f->param, sizeof f->param, "%s", param ? param : "");
    snprintf(f->code, sizeof f->code, "%s", code ? code : "");
    return lt_err_set(err, LT_EINVAL, fmt, a);
}

/* Field key of o when present and not null; NULL otherwise. */
static const cJSON *field(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

/* A number field in [lo, hi] (integer when asked); *present says whether it was given. */
static lt_status num(const cJSON *o, const char *key, double lo, double hi, bool integer, double *out,
                     bool *present, lt_oai_fault *f, lt_err *err) {
    const cJSON *v = field(o, key);
    *present = v != NULL;
    if (!v) return LT_OK;
    if (!cJSON_IsNumber(v))
        return fault(f, err, key, "invalid_type", integer ? "'%s' must be an integer" : "'%s' must be a number", key);
    double x = v->valuedouble;
    if (integer && (x != floor(x) || !isfinite(x))) return fault(f, err, key, "invalid_type", "'%s' must be an integer", key);
    if (!(x >= lo && x <= hi)) {
        char m[160];
        snprintf(m, sizeof m, "'%s' is %g, outside [%g, %g]", key, x, lo, hi);
        return fault(f, err, key, "invalid_value", "%s", m);
    }
    *out = x;
    return LT_OK;
}

static lt_status boolean(const cJSON *o, const char *key, bool *out, lt_oai_fault *f, lt_err *err) {
    const cJSON *v = field(o, key);
    if (!v) return LT_OK;
    if (!cJSON_IsBool(v)) return fault(f, err, key, "invalid_type", "'%s' must be true or false", key);
    *out = cJSON_IsTrue(v);
    return LT_OK;
}

static lt_status add_stop(lt_oai_request *r, const cJSON *s, lt_oai_fault *f, lt_err *err) {
    if (!cJSON_IsString(s)) return fault(f, err, "stop", "invalid_type", "'%s' must be a string or a list of strings", "stop");
    size_t n = strlen(s->valuestring);
    if (n == 0) return LT_OK;
    if (n >= LT_STOPSTR_LEN) {
        char m[96];
        snprintf(m, sizeof m, "a stop sequence is longer than %d bytes", LT_STOPSTR_LEN - 1);
        return fault(f, err, "stop", "invalid_value", "%s", m);
    }
    if (r->n_stops >= LT_STOPSTR_MAX) {
        char m[96];
        snprintf(m, sizeof m, "more than %d stop sequences", LT_STOPSTR_MAX);
        return fault(f, err, "stop", "invalid_value", "%s", m);
    }
    memcpy(r->stops[r->n_stops++], s->valuestring, n + 1);
    return LT_OK;
}

/* A message's content: a string, or a list of {"type": "text", "text": ...} parts (joined). */
static lt_status content_of(const cJSON *m, int i, char **out, lt_oai_fault *f, lt_err *err) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
    char where[64];
    snprintf(where, sizeof where, "messages[%d].content", i);
    if (!c || cJSON_IsNull(c)) {
        *out = lt_malloc(1);
        if (!*out) return lt_err_set(err, LT_ENOMEM, "out of host memory");
        (*out)[0] = 0;
        return LT_OK;
    }
    if (cJSON_IsString(c)) {
        size_t n = strlen(c->valuestring);
        *out = lt_malloc(n + 1);
        if (!*out) return lt_err_set(err, LT_ENOMEM, "out of host memory");
        memcpy(*out, c->valuestring, n + 1);
        return LT_OK;
    }
    if (!cJSON_IsArray(c)) return fault(f, err, where, "invalid_type", "'%s' must be a string or a list of text parts", where);
    size_t n = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, c) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "type"), *x = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (!cJSON_IsString(t) || strcmp(t->valuestring, "text") != 0 || !cJSON_IsString(x))
            return fault(f, err, where, "invalid_value", "'%s': only text parts ({\"type\": \"text\", \"text\": ...}) are supported", where);
        n += strlen(x->valuestring);
    }
    *out = lt_malloc(n + 1);
    if (!*out) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    n = 0;
    cJSON_ArrayForEach(p, c) {
        const char *x = cJSON_GetObjectItemCaseSensitive(p, "text")->valuestring;
        size_t k = strlen(x);
        memcpy(*out + n, x, k);
        n += k;
    }
    (*out)[n] = 0;
    return LT_OK;
}

static lt_status parse_messages(lt_oai_request *r, const cJSON *root, const lt_tokenizer *tok, lt_oai_fault *f,
                                lt_err *err) {
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!ms || cJSON_IsNull(ms)) return fault(f, err, "messages", "missing_required_parameter", "'%s' is required", "messages");
    if (!cJSON_IsArray(ms)) return fault(f, err, "messages", "invalid_type", "'%s' must be a list of messages", "messages");
    int n = cJSON_GetArraySize(ms);
    if (n == 0) return fault(f, err, "messages", "invalid_value", "'%s' must hold at least one message", "messages");
    lt_chat_msg *msgs = lt_calloc((size_t)n, sizeof *msgs);
    char **texts = lt_calloc((size_t)n, sizeof *texts);
    lt_status s = msgs && texts ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of host memory");
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, ms) {
        if (s != LT_OK) break;
        char where[48];
        snprintf(where, sizeof where, "messages[%d]", i);
        const cJSON *role = cJSON_IsObject(m) ? cJSON_GetObjectItemCaseSensitive(m, "role") : NULL;
        if (!cJSON_IsObject(m)) {
            s = fault(f, err, where, "invalid_type", "'%s' must be an object with role and content", where);
            break;
        }
        if (!cJSON_IsString(role)) {
            snprintf(where, sizeof where, "messages[%d].role", i);
            s = fault(f, err, where, "invalid_type", "'%s' must be a string", where);
            break;
        }
        const char *rs = role->valuestring;
        if (strcmp(rs, "developer") == 0) rs = "system";
        if (strcmp(rs, "system") != 0 && strcmp(rs, "user") != 0 && strcmp(rs, "assistant") != 0) {
            char msg[160];
            snprintf(msg, sizeof msg, "messages[%d].role '%.40s' is not supported (system, developer, user, assistant)",
                     i, role->valuestring);
            snprintf(where, sizeof where, "messages[%d].role", i);
            s = fault(f, err, where, "invalid_value", "%s", msg);
            break;
        }
        s = content_of(m, i, &texts[i], f, err);
        msgs[i].role = rs;
        msgs[i].content = texts[i];
        i++;
    }
    if (s == LT_OK) {
        size_t need = lt_chat_render(tok, msgs, n, true, NULL, 0) + 1;
        r->prompt = lt_malloc(need);
        if (!r->prompt) s = lt_err_set(err, LT_ENOMEM, "out of host memory");
        else lt_chat_render(tok, msgs, n, true, r->prompt, need);
        r->parse_special = strcmp(lt_chat_template_name(tok), "plain") != 0;
    }
    for (int k = 0; texts && k < n; k++) lt_free(texts[k]);
    lt_free(texts);
    lt_free(msgs);
    return s;
}

static lt_status parse_prompt(lt_oai_request *r, const cJSON *root, lt_oai_fault *f, lt_err *err) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (!p || cJSON_IsNull(p)) return fault(f, err, "prompt", "missing_required_parameter", "'%s' is required", "prompt");
    if (cJSON_IsArray(p)) {
        if (cJSON_GetArraySize(p) != 1 || !cJSON_IsString(cJSON_GetArrayItem(p, 0)))
            return fault(f, err, "prompt", "invalid_value", "'%s' must be a string or a list of one string (one prompt per request)", "prompt");
        p = cJSON_GetArrayItem(p, 0);
    }
    if (!cJSON_IsString(p)) return fault(f, err, "prompt", "invalid_type", "'%s' must be a string", "prompt");
    size_t n = strlen(p->valuestring);
    r->prompt = lt_malloc(n + 1);
    if (!r->prompt) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    memcpy(r->prompt, p->valuestring, n + 1);
    r->parse_special = true; /* as `lathe generate` and llama.cpp's server tokenize a raw prompt */
    return LT_OK;
}

static lt_status parse_root(lt_oai_request *r, const cJSON *root, const lt_tokenizer *tok, lt_oai_fault *f,
                            lt_err *err) {
    lt_status s;
    const cJSON *v = field(root, "model");
    if (v && !cJSON_IsString(v)) return fault(f, err, "model", "invalid_type", "'%s' must be a string", "model");
    if (v) snprintf(r->model, sizeof r->model, "%s", v->valuestring);
    double x;
    bool has;
    /* what is not implemented and would change the answer's shape */
    if ((s = num(root, "n", 1, 1, true, &x, &has, f, err)) != LT_OK)
        return lt_err_set(err, LT_EINVAL, "'n' must be 1: one choice per request is supported");
    if ((s = num(root, "best_of", 1, 1, true, &x, &has, f, err)) != LT_OK)
        return lt_err_set(err, LT_EINVAL, "'best_of' must be 1: one choice per request is supported");
    bool flag = false;
    if ((s = boolean(root, "echo", &flag, f, err)) != LT_OK) return s;
    if (flag) return fault(f, err, "echo", "unsupported_parameter", "'%s' is not supported", "echo");
    v = field(root, "logprobs");
    if (v && !cJSON_IsFalse(v) && !(cJSON_IsNumber(v) && v->valuedouble == 0))
        return fault(f, err, "logprobs", "unsupported_parameter", "'%s' is not supported", "logprobs");
    v = field(root, "tools");
    if (v && !(cJSON_IsArray(v) && cJSON_GetArraySize(v) == 0))
        return fault(f, err, "tools", "unsupported_parameter", "'%s' (tool calls) is not supported", "tools");

    if ((s = (r->kind == LT_OAI_CHAT ? parse_messages(r, root, tok, f, err) : parse_prompt(r, root, f, err))) != LT_OK)
        return s;
    if ((s = boolean(root, "stream", &r->stream, f, err)) != LT_OK) return s;
    if ((s = boolean(root, "ignore_eos", &r->ignore_eos, f, err)) != LT_OK) return s;
    v = field(root, "stream_options");
    if (v) {
        if (!cJSON_IsObject(v)) return fault(f, err, "stream_options", "invalid_type", "'%s' must be an object", "stream_options");
        if ((s = boolean(v, "include_usage", &r->include_usage, f, err)) != LT_OK) return s;
    }
    const char *mt[2] = {"max_tokens", "max_completion_tokens"};
    for (int i = 0; i < 2; i++) {
        if ((s = num(root, mt[i], 1, 1 << 30, true, &x, &has, f, err)) != LT_OK) return s;
        if (has) r->max_tokens = (int)x;
    }
    if ((s = num(root, "temperature", 0, 100, false, &x, &has, f, err)) != LT_OK) return s;
    if (has) r->sp.temp = (float)x;
    if ((s = num(root, "top_p", 0, 1, false, &x, &has, f, err)) != LT_OK) return s;
    if (has) r->sp.top_p = (float)x;
    if ((s = num(root, "top_k", 0, 1 << 30, true, &x, &has, f, err)) != LT_OK) return s;
    if (has) r->sp.top_k = (int32_t)x;
    if ((s = num(root, "min_p", 0, 1, false, &x, &has, f, err)) != LT_OK) return s;
    if (has) r->sp.min_p = (float)x;
    if ((s = num(root, "repeat_penalty", 0, 100, false, &x, &has, f, err)) != LT_OK) return s;
    if (has) r->sp.repeat_penalty = (float)x;
    /* seeds are integers in [0, 2^53] (what a JSON number holds exactly); negative = random */
    if ((s = num(root, "seed", -9007199254740992.0, 9007199254740992.0, true, &x, &has, f, err)) != LT_OK) return s;
    if (has && x >= 0) {
        r->sp.seed = (uint64_t)x;
        r->has_seed = true;
    }
    v = field(root, "stop");
    if (v && cJSON_IsArray(v)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, v) if ((s = add_stop(r, e, f, err)) != LT_OK) return s;
    } else if (v && (s = add_stop(r, v, f, err)) != LT_OK) {
        return s;
    }
    return LT_OK;
}

lt_status lt_oai_parse(lt_oai_kind kind, const char *body, size_t len, const lt_tokenizer *tok,
                       const lt_sampler_params *sp_default, lt_oai_request *out, lt_oai_fault *f, lt_err *err) {
    memset(out, 0, sizeof *out);
    memset(f, 0, sizeof *f);
    out->kind = kind;
    out->max_tokens = -1;
    out->sp = *sp_default;
    if (!body || len == 0) return fault(f, err, NULL, NULL, "%s", "the request has no body: a JSON object is expected");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (!root) {
        char m[96];
        size_t at = end && end >= body && end <= body + len ? (size_t)(end - body) : 0;
        snprintf(m, sizeof m, "malformed JSON in the request body (at byte %zu)", at);
        return fault(f, err, NULL, NULL, "%s", m);
    }
    /* only whitespace may follow the value */
    for (const char *p = end; p && p < body + len; p++)
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') {
            cJSON_Delete(root);
            char m[96];
            snprintf(m, sizeof m, "malformed JSON in the request body (text after the value at byte %zu)",
                     (size_t)(p - body));
            return fault(f, err, NULL, NULL, "%s", m);
        }
    lt_status s = cJSON_IsObject(root) ? parse_root(out, root, tok, f, err)
                                       : fault(f, err, NULL, NULL, "%s", "the request body must be a JSON object");
    cJSON_Delete(root);
    if (s != LT_OK) lt_oai_request_clear(out);
    return s;
}

void lt_oai_request_clear(lt_oai_request *r) {
    if (!r) return;
    lt_free(r->prompt);
    r->prompt = NULL;
}

const char *lt_oai_finish_reason(lt_gen_stop stop) {
    return stop == LT_GEN_STOP_LENGTH || stop == LT_GEN_STOP_CONTEXT ? "length" : "stop";
}

/* ---- building ------------------------------------------------------------------------------ */

/* A string of len bytes (may hold no NUL: the JSON is cut there otherwise). */
static cJSON *str_n(const char *s, size_t len) {
    char stackbuf[512];
    char *b = len < sizeof stackbuf ? stackbuf : lt_malloc(len + 1);
    if (!b) return NULL;
    memcpy(b, s ? s : "", len);
    b[len] = 0;
    cJSON *j = cJSON_CreateString(b);
    if (b != stackbuf) lt_free(b);
    return j;
}

static cJSON *head(const lt_oai_ident *id, bool chunk) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id->id);
    cJSON_AddStringToObject(o, "object", id->kind == LT_OAI_CHAT ? (chunk ? "chat.completion.chunk" : "chat.completion")
                                                                 : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)id->created);
    cJSON_AddStringToObject(o, "model", id->model);
    return o;
}

static void add_usage(cJSON *o, const lt_oai_usage *u) {
    cJSON *j = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(j, "prompt_tokens", u->prompt_tokens);
    cJSON_AddNumberToObject(j, "completion_tokens", u->completion_tokens);
    cJSON_AddNumberToObject(j, "total_tokens", u->prompt_tokens + u->completion_tokens);
}

static char *print(cJSON *o) {
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

char *lt_oai_response(const lt_oai_ident *id, const char *text, size_t len, const char *finish,
                      const lt_oai_usage *u) {
    cJSON *o = head(id, false);
    cJSON *ch = cJSON_AddArrayToObject(o, "choices"), *c = cJSON_CreateObject();
    cJSON_AddItemToArray(ch, c);
    cJSON_AddNumberToObject(c, "index", 0);
    if (id->kind == LT_OAI_CHAT) {
        cJSON *m = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        cJSON_AddItemToObject(m, "content", str_n(text, len));
    } else {
        cJSON_AddItemToObject(c, "text", str_n(text, len));
    }
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddStringToObject(c, "finish_reason", finish);
    add_usage(o, u);
    return print(o);
}

char *lt_oai_chunk(const lt_oai_ident *id, bool role, const char *text, size_t len, const char *finish,
                   const lt_oai_usage *u) {
    cJSON *o = head(id, true);
    cJSON *ch = cJSON_AddArrayToObject(o, "choices");
    if (text || finish || role) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddItemToArray(ch, c);
        cJSON_AddNumberToObject(c, "index", 0);
        if (id->kind == LT_OAI_CHAT) {
            cJSON *d = cJSON_AddObjectToObject(c, "delta");
            if (role) cJSON_AddStringToObject(d, "role", "assistant");
            if (text || role) cJSON_AddItemToObject(d, "content", str_n(text, text ? len : 0));
        } else {
            cJSON_AddItemToObject(c, "text", str_n(text, text ? len : 0));
        }
        cJSON_AddNullToObject(c, "logprobs");
        if (finish) cJSON_AddStringToObject(c, "finish_reason", finish);
        else cJSON_AddNullToObject(c, "finish_reason");
    }
    if (u) add_usage(o, u);
    return print(o);
}

char *lt_oai_error(const char *message, const char *type, const char *param, const char *code) {
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "type", type);
    if (param && param[0]) cJSON_AddStringToObject(e, "param", param);
    else cJSON_AddNullToObject(e, "param");
    if (code && code[0]) cJSON_AddStringToObject(e, "code", code);
    else cJSON_AddNullToObject(e, "code");
    return print(o);
}

static cJSON *model_obj(const char *model, int64_t created) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", model);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)created);
    cJSON_AddStringToObject(m, "owned_by", "lathe");
    return m;
}

char *lt_oai_models(const char *model, int64_t created) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *d = cJSON_AddArrayToObject(o, "data");
    cJSON_AddItemToArray(d, model_obj(model, created));
    return print(o);
}

char *lt_oai_model(const char *model, int64_t created) { return print(model_obj(model, created)); }

void lt_oai_free(char *s) { cJSON_free(s); }
