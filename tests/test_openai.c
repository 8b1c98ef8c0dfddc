/* test_openai.c - core/app/openai.h: OpenAI request bodies parsed and checked (fields, defaults,
 * overrides, the chat rendered in the plain family, every 400 naming its field), and the
 * response, chunk, usage, error and model-list objects in OpenAI's shapes (parsed back). */
#include <cjson/cJSON.h>
#include <string.h>

#include "core/app/openai.h"
#include "testutil.h"

static lt_sampler_params defaults(void) {
    lt_sampler_params sp = lt_sampler_defaults();
    sp.seed = 7;
    return sp;
}

static lt_status parse(lt_oai_kind k, const char *body, lt_oai_request *r, lt_oai_fault *f, lt_err *err) {
    lt_sampler_params sp = defaults();
    return lt_oai_parse(k, body, strlen(body), NULL, &sp, r, f, err);
}

static void good(void) {
    lt_oai_request r;
    lt_oai_fault f;
    lt_err err = {0};
    CHECK(parse(LT_OAI_COMPLETION,
                "{\"model\":\"m\",\"prompt\":\"Hello\",\"max_tokens\":12,\"temperature\":0,\"top_p\":0.5,"
                "\"top_k\":3,\"min_p\":0.1,\"seed\":42,\"stop\":[\"\\n\",\"END\"],\"stream\":true,"
                "\"stream_options\":{\"include_usage\":true},\"n\":1,\"logprobs\":null,\"user\":\"x\"}  \n",
                &r, &f, &err) == LT_OK);
    CHECK(r.prompt && strcmp(r.prompt, "Hello") == 0 && r.parse_special);
    CHECK(r.max_tokens == 12 && r.sp.temp == 0 && r.sp.top_p == 0.5f && r.sp.top_k == 3 && r.sp.min_p == 0.1f);
    CHECK(r.has_seed && r.sp.seed == 42 && r.stream && r.include_usage && !r.ignore_eos);
    CHECK(r.n_stops == 2 && strcmp(r.stops[0], "\n") == 0 && strcmp(r.stops[1], "END") == 0);
    CHECK(strcmp(r.model, "m") == 0);
    lt_oai_request_clear(&r);

    /* defaults stay when fields are absent or null; a list of one prompt; max_completion_tokens */
    CHECK(parse(LT_OAI_COMPLETION, "{\"prompt\":[\"Hi\"],\"temperature\":null,\"stop\":\"x\","
                                   "\"max_completion_tokens\":5,\"seed\":-1}", &r, &f, &err) == LT_OK);
    lt_sampler_params d = defaults();
    CHECK(strcmp(r.prompt, "Hi") == 0 && r.sp.temp == d.temp && r.sp.top_k == d.top_k && !r.has_seed &&
          r.sp.seed == 7 && r.max_tokens == 5 && r.n_stops == 1 && !r.stream);
    lt_oai_request_clear(&r);

    /* chat: rendered in the plain family without a tokenizer (the model's template otherwise) */
    CHECK(parse(LT_OAI_CHAT,
                "{\"messages\":[{\"role\":\"developer\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":"
                "[{\"type\":\"text\",\"text\":\"Hi \"},{\"type\":\"text\",\"text\":\"there\"}]},"
                "{\"role\":\"assistant\",\"content\":\"Hello.\"},{\"role\":\"user\",\"content\":\"Again\"}]}",
                &r, &f, &err) == LT_OK);
    CHECKF(r.prompt && strstr(r.prompt, "Be brief.") && strstr(r.prompt, "Hi there") &&
               strstr(r.prompt, "Hello.") && strstr(r.prompt, "Again") && !r.parse_special,
           "rendered: %s", r.prompt ? r.prompt : "(null)");
    CHECK(r.max_tokens == -1);
    lt_oai_request_clear(&r);
}

/* body -> LT_EINVAL with param (NULL = none) and a message holding want */
static void bad(lt_oai_kind k, const char *body, const char *param, const char *want) {
    lt_oai_request r;
    lt_oai_fault f;
    lt_err err = {0};
    lt_status s = parse(k, body, &r, &f, &err);
    CHECKF(s == LT_EINVAL && strstr(err.msg, want) && strcmp(f.param, param ? param : "") == 0,
           "%s: status %d, message '%s', param '%s' (want '%s', '%s')", body, s, err.msg, f.param, want,
           param ? param : "");
    CHECK(r.prompt == NULL);
}

static void errors(void) {
    bad(LT_OAI_COMPLETION, "{\"prompt\": ", NULL, "malformed JSON");
    bad(LT_OAI_COMPLETION, "{\"prompt\": \"a\"} x", NULL, "text after the value");
    bad(LT_OAI_COMPLETION, "", NULL, "no body");
    bad(LT_OAI_COMPLETION, "[1]", NULL, "must be a JSON object");
    bad(LT_OAI_COMPLETION, "{}", "prompt", "'prompt' is required");
    bad(LT_OAI_COMPLETION, "{\"prompt\":5}", "prompt", "'prompt' must be a string");
    bad(LT_OAI_COMPLETION, "{\"prompt\":[\"a\",\"b\"]}", "prompt", "one prompt per request");
    bad(LT_OAI_COMPLETION, "{\"prompt\":\"a\",\"max_tokens\":\"9\"}", "max_tokens", "must be an integer");
    bad(LT_OAI_COMPLETION, "{\"prompt\":\"a\",\"max_tokens\":1.5}", "max_tokens", "must be an integer");
    bad(LT_OAI_COMPLETION, "{\"prompt\":\"a\",\"max_tokens\":0}", "max_tokens", "outside");
    bad(LT_OAI_COMPLETION, "{\"prompt\":\"a\",\"temperature\":\"hot\"}", "temperature", "must be a number");
    bad(LT_OAI_COMPLETION, "{\"prompt\":\"a\",\"temperature\":-1}", "temperature", "outside");
    bad(LT_OAI_COMPLETION, "{\"prompt\":\"a\",\"top_p\":2}", "top_p", "outside");
    bad(LT_OAI_COMPLETION, "{\"prompt\":\"a\",\"stream\":1}", "stream", "true or false");
    bad(LT_OAI_COMPLETION, "{\"prompt\":\"a\",\"stream_options\":3}", "stream_options", "must be an object");
    bad(LT_OAI_COMPLETION, "{\"prompt\":\"a\",\"n\":2}", "n", "'n' must be 1");
    bad(LT_OAI_COMPLETION, "{\"prompt\":\"a\",\"echo\":true}", "echo", "not supported");
    bad(LT_OAI_COMPLETION, "{\"prompt\":\"a\",\"logprobs\":3}", "logprobs", "not supported");
    bad(LT_OAI_COMPLETION, "{\"prompt\":\"a\",\"stop\":[1]}", "stop", "list of strings");
    bad(LT_OAI_COMPLETION, "{\"prompt\":\"a\",\"stop\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]}", "stop",
        "more than 8");
    bad(LT_OAI_COMPLETION, "{\"prompt\":\"a\",\"model\":3}", "model", "must be a string");
    bad(LT_OAI_CHAT, "{\"prompt\":\"a\"}", "messages", "'messages' is required");
    bad(LT_OAI_CHAT, "{\"messages\":{}}", "messages", "list of messages");
    bad(LT_OAI_CHAT, "{\"messages\":[]}", "messages", "at least one");
    bad(LT_OAI_CHAT, "{\"messages\":[\"hi\"]}", "messages[0]", "must be an object");
    bad(LT_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"content\":\"b\"}]}", "messages[1].role",
        "must be a string");
    bad(LT_OAI_CHAT, "{\"messages\":[{\"role\":\"tool\",\"content\":\"a\"}]}", "messages[0].role", "not supported");
    bad(LT_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":7}]}", "messages[0].content", "string or a list");
    bad(LT_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
        "messages[0].content", "only text parts");
    bad(LT_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"tools\":[{}]}", "tools", "tool calls");
}

static cJSON *obj(char *s) {
    CHECK(s != NULL);
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    CHECKF(j != NULL, "not JSON: %s", s ? s : "(null)");
    lt_oai_free(s);
    return j;
}

static const char *str(const cJSON *o, const char *path) {
    /* "a.b.0.c" */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *v = o;
    for (char *t = strtok(buf, "."); t && v; t = strtok(NULL, "."))
        v = (*t >= '0' && *t <= '9') ? cJSON_GetArrayItem(v, *t - '0') : cJSON_GetObjectItemCaseSensitive(v, t);
    return cJSON_IsString(v) ? v->valuestring : cJSON_IsNull(v) ? "null" : v ? "?" : NULL;
}

static void building(void) {
    CHECK(strcmp(lt_oai_finish_reason(LT_GEN_STOP_LENGTH), "length") == 0);
    CHECK(strcmp(lt_oai_finish_reason(LT_GEN_STOP_CONTEXT), "length") == 0);
    CHECK(strcmp(lt_oai_finish_reason(LT_GEN_STOP_EOG), "stop") == 0);
    CHECK(strcmp(lt_oai_finish_reason(LT_GEN_STOP_STRING), "stop") == 0);
    lt_oai_ident chat = {LT_OAI_CHAT, "chatcmpl-1", 1700000000, "smollm2"};
    lt_oai_ident cmpl = {LT_OAI_COMPLETION, "cmpl-1", 1700000000, "smollm2"};
    lt_oai_usage u = {5, 3};
    cJSON *j = obj(lt_oai_response(&chat, "Paris.\"\n", 8, "stop", &u));
    CHECK(strcmp(str(j, "object"), "chat.completion") == 0 && strcmp(str(j, "id"), "chatcmpl-1") == 0);
    CHECK(strcmp(str(j, "choices.0.message.role"), "assistant") == 0);
    CHECK(strcmp(str(j, "choices.0.message.content"), "Paris.\"\n") == 0);
    CHECK(strcmp(str(j, "choices.0.finish_reason"), "stop") == 0 && strcmp(str(j, "model"), "smollm2") == 0);
    const cJSON *us = cJSON_GetObjectItem(j, "usage");
    CHECK(cJSON_GetObjectItem(us, "total_tokens")->valuedouble == 8);
    CHECK(cJSON_GetObjectItem(j, "created")->valuedouble == 1700000000);
    cJSON_Delete(j);
    j = obj(lt_oai_response(&cmpl, "abc", 2, "length", &u));
    CHECK(strcmp(str(j, "object"), "text_completion") == 0 && strcmp(str(j, "choices.0.text"), "ab") == 0);
    cJSON_Delete(j);
    /* chunks: the role first, text deltas, the finish, the usage chunk */
    j = obj(lt_oai_chunk(&chat, true, "", 0, NULL, NULL));
    CHECK(strcmp(str(j, "object"), "chat.completion.chunk") == 0 && strcmp(str(j, "choices.0.delta.role"), "assistant") == 0);
    CHECK(strcmp(str(j, "choices.0.finish_reason"), "null") == 0 && !cJSON_GetObjectItem(j, "usage"));
    cJSON_Delete(j);
    j = obj(lt_oai_chunk(&chat, false, "Pa", 2, NULL, NULL));
    CHECK(strcmp(str(j, "choices.0.delta.content"), "Pa") == 0 && str(j, "choices.0.delta.role") == NULL);
    cJSON_Delete(j);
    j = obj(lt_oai_chunk(&chat, false, NULL, 0, "length", NULL));
    CHECK(strcmp(str(j, "choices.0.finish_reason"), "length") == 0 && str(j, "choices.0.delta.content") == NULL);
    cJSON_Delete(j);
    j = obj(lt_oai_chunk(&chat, false, NULL, 0, NULL, &u));
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "choices")) == 0);
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "completion_tokens")->valuedouble == 3);
    cJSON_Delete(j);
    j = obj(lt_oai_chunk(&cmpl, false, "x", 1, NULL, NULL));
    CHECK(strcmp(str(j, "object"), "text_completion") == 0 && strcmp(str(j, "choices.0.text"), "x") == 0);
    cJSON_Delete(j);
    j = obj(lt_oai_error("bad \"thing\"", "invalid_request_error", "prompt", NULL));
    CHECK(strcmp(str(j, "error.message"), "bad \"thing\"") == 0 && strcmp(str(j, "error.param"), "prompt") == 0);
    CHECK(strcmp(str(j, "error.code"), "null") == 0 && strcmp(str(j, "error.type"), "invalid_request_error") == 0);
    cJSON_Delete(j);
    j = obj(lt_oai_models("smollm2", 1));
    CHECK(strcmp(str(j, "object"), "list") == 0 && strcmp(str(j, "data.0.id"), "smollm2") == 0 &&
          strcmp(str(j, "data.0.object"), "model") == 0);
    cJSON_Delete(j);
}

int main(void) {
    good();
    errors();
    building();
    return lt_test_done();
}
