/* test_module.c - the CUDA module loader (core/backend/module.c) through the registry, against
 * the stand-in modules of tests/fake/cuda_module.c ($FAKE_CUDA_DIR, set by ctest): "cpu" never
 * loads a module; a working module gives a "cuda" backend whose table is the module's
 * (transfers round-trip, ops it lacks are clear errors) and "auto" picks it; a module of
 * another ABI, without a device, without its entry point, with a missing library, or no file at
 * all gives LT_EUNSUPPORTED naming why, "auto" falls back to the CPU, and
 * lt_backend_cuda_status keeps the reason; threads asking at once load it once. The loader tries once per process, so each case
 * runs in a child process with its own $LATHE_CUDA_MODULE.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/backend/backend_impl.h"
#include "testutil.h"

static char g_fake[1024];

/* True when /proc/self/maps maps a file whose path contains s. */
static bool mapped(const char *s) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[2048];
    bool found = false;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, s)) found = true;
    if (f) fclose(f);
    return found;
}

/* Runs fn in a child process with LATHE_CUDA_MODULE=$FAKE_CUDA_DIR/kind (unset when kind is
 * NULL) and adds the child's counts to ours. */
static void in_child(const char *kind, void (*fn)(const char *kind)) {
    int fd[2];
    if (pipe(fd) != 0) {
        CHECK(!"pipe");
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        char path[1200];
        if (kind) {
            snprintf(path, sizeof path, "%s/%s", g_fake, kind);
            setenv("LATHE_CUDA_MODULE", path, 1);
        } else {
            unsetenv("LATHE_CUDA_MODULE");
        }
        lt_test_passed = lt_test_failed = 0;
        fn(kind);
        int counts[2] = {lt_test_passed, lt_test_failed};
        if (write(fd[1], counts, sizeof counts) != (ssize_t)sizeof counts) _exit(2);
        fflush(stdout);
        fflush(stderr);
        _exit(0);
    }
    close(fd[1]);
    int counts[2] = {0, 0}, st = 0;
    ssize_t n = read(fd[0], counts, sizeof counts);
    close(fd[0]);
    waitpid(pid, &st, 0);
    CHECKF(n == (ssize_t)sizeof counts && WIFEXITED(st) && WEXITSTATUS(st) == 0, "case %s: the child died (status %d)",
           kind ? kind : "(none)", st);
    lt_test_passed += counts[0];
    lt_test_failed += counts[1];
    printf("case %-30s %d passed, %d failed\n", kind ? kind : "(cpu only)", counts[0], counts[1]);
}

static void cpu_only(const char *kind) {
    lt_backend *be = NULL;
    lt_err err = {0};
    CHECK(lt_backend_create(&be, "cpu", NULL, &err) == LT_OK);
    CHECK(be && !strcmp(lt_backend_name(be), "cpu"));
    lt_backend_free(be);
    char line[1024];
    CHECK(lt_backend_cuda_status(false, line, sizeof line) == LT_MODULE_UNTRIED);
    CHECKF(strstr(line, "not loaded") != NULL, "%s", line);
    CHECK(!mapped("liblathe-cuda") && !mapped("libcudart") && !mapped("libcublas"));
    CHECK(!strcmp(lt_module_state_brief(LT_MODULE_UNTRIED), "not loaded"));
}

static void working(const char *kind) {
    lt_backend *be = NULL;
    lt_err err = {0};
    CHECK(lt_backend_cuda_available());
    CHECKF(lt_backend_create(&be, "cuda", NULL, &err) == LT_OK, "%s", err.msg);
    if (!be) return;
    CHECK(!strcmp(lt_backend_name(be), "cuda"));
    CHECK(!strcmp(lt_backend_device(be), "Fake CUDA device (test module)"));
    CHECK(!lt_backend_is_host(be));
    CHECK(mapped("fake_cuda/ok/liblathe-cuda.so"));
    /* memory and transfers go through the module's table */
    lt_arena *a = NULL;
    CHECK(lt_arena_create(&a, be, 4096, LT_MEM_SCRATCH, &err) == LT_OK);
    lt_tensor t, u;
    int64_t shape[1] = {8};
    CHECK(a && lt_arena_tensor(a, &t, LT_F32, 1, shape, &err) == LT_OK);
    CHECK(a && lt_arena_tensor(a, &u, LT_F32, 1, shape, &err) == LT_OK);
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y[8] = {0};
    CHECK(lt_tensor_set(&t, x, sizeof x, &err) == LT_OK);
    CHECK(lt_tensor_copy_range(&u, 0, &t, 0, sizeof x, &err) == LT_OK);
    CHECK(lt_tensor_get(&u, y, sizeof y, &err) == LT_OK);
    CHECK(!memcmp(x, y, sizeof x));
    CHECK(lt_backend_mem_used(be, LT_MEM_SCRATCH) >= 4096);
    /* an op the module leaves out is the wrappers' clear error */
    CHECK(lt_op_add(be, &u, &t, &t, &err) == LT_EUNSUPPORTED);
    CHECKF(strstr(err.msg, "not implemented on the cuda backend") != NULL, "%s", err.msg);
    lt_arena_free(a);
    lt_backend_free(be);
    /* auto picks it */
    CHECK(lt_backend_create(&be, "auto", NULL, &err) == LT_OK);
    CHECK(be && !strcmp(lt_backend_name(be), "cuda"));
    lt_backend_free(be);
    char line[1024];
    CHECK(lt_backend_cuda_status(false, line, sizeof line) == LT_MODULE_READY);
    CHECKF(strstr(line, "fake_cuda/ok/liblathe-cuda.so loaded, 1 device (fake CUDA runtime") != NULL, "%s", line);
}

/* A module that cannot be used: "cuda" names why, "auto" is the CPU, the status keeps it. */
static void unusable(lt_module_state want, const char *msg) {
    lt_backend *be = NULL;
    lt_err err = {0};
    CHECK(!lt_backend_cuda_available());
    CHECK(lt_backend_create(&be, "cuda", NULL, &err) == LT_EUNSUPPORTED && be == NULL);
    CHECKF(!strncmp(err.msg, "device cuda: ", 13) && strstr(err.msg, msg) && !strchr(err.msg, '\n'), "%s", err.msg);
    CHECK(lt_backend_create(&be, "auto", NULL, &err) == LT_OK);
    CHECK(be && !strcmp(lt_backend_name(be), "cpu"));
    lt_backend_free(be);
    char line[1024];
    CHECK(lt_backend_cuda_status(false, line, sizeof line) == want);
    CHECK(lt_backend_cuda_status(true, NULL, 0) == want); /* tried once: not again */
    CHECKF(strstr(line, msg) != NULL, "%s", line);
}

static void no_device(const char *kind) {
    unusable(LT_MODULE_NO_DEVICE, "no CUDA-capable device is detected (fake)");
    char line[1024];
    lt_backend_cuda_status(false, line, sizeof line);
    CHECKF(strstr(line, "nodev/liblathe-cuda.so loaded, 0 devices: ") != NULL, "%s", line);
    CHECK(!strcmp(lt_module_state_brief(LT_MODULE_NO_DEVICE), "no device"));
    CHECK(mapped("fake_cuda/nodev/liblathe-cuda.so")); /* it stays loaded */
}

static void other_abi(const char *kind) {
    char want[128];
    snprintf(want, sizeof want, "has ABI version %u, expected %u", LT_BACKEND_ABI_VERSION + 100,
             LT_BACKEND_ABI_VERSION);
    unusable(LT_MODULE_ABI_MISMATCH, want);
    CHECK(!mapped("fake_cuda/abi/liblathe-cuda.so")); /* closed again */
}

static void no_entry(const char *kind) {
    unusable(LT_MODULE_NOT_A_MODULE, "is not a lathe CUDA module (it has no lt_cuda_module_entry)");
}

static void missing_dep(const char *kind) {
    unusable(LT_MODULE_LOAD_FAILED, "could not be loaded: libltmissing.so: cannot open shared object file");
    CHECK(!strcmp(lt_module_state_brief(LT_MODULE_LOAD_FAILED), "module failed to load"));
}

static void not_found(const char *kind) {
    unusable(LT_MODULE_NOT_FOUND, "the CUDA module was not found (looked in: LATHE_CUDA_MODULE=");
    CHECK(!strcmp(lt_module_state_brief(LT_MODULE_NOT_FOUND), "module not found"));
}

/* Four threads ask for "auto" at once: the module is loaded once, all get the CPU. */
static void *ask_auto(void *arg) {
    lt_err err;
    lt_backend *be = NULL;
    *(bool *)arg = lt_backend_create(&be, "auto", NULL, &err) == LT_OK && !strcmp(lt_backend_name(be), "cpu");
    lt_backend_free(be);
    return NULL;
}

static void concurrent(const char *kind) {
    char mark[1200];
    snprintf(mark, sizeof mark, "%s/mark-%d", lt_test_tmpdir("module"), (int)getpid());
    setenv("FAKE_CUDA_MARK", mark, 1);
    pthread_t th[4];
    bool ok[4] = {false};
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, ask_auto, &ok[i]);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) CHECK(ok[i]);
    FILE *f = fopen(mark, "r");
    int lines = 0;
    char line[64];
    while (f && fgets(line, sizeof line, f)) lines++;
    if (f) fclose(f);
    CHECKF(lines == 1, "the module was loaded %d times", lines);
    unlink(mark);
}

int main(void) {
    const char *dir = getenv("FAKE_CUDA_DIR");
    snprintf(g_fake, sizeof g_fake, "%s", dir ? dir : "fake_cuda");
    char probe[1200];
    snprintf(probe, sizeof probe, "%s/ok/liblathe-cuda.so", g_fake);
    if (access(probe, R_OK) != 0) {
        printf("no stand-in CUDA modules at %s (run through ctest): skipped\n", g_fake);
        return 77;
    }
    in_child(NULL, cpu_only);
    in_child("ok/liblathe-cuda.so", working);
    in_child("ok", working); /* a folder: the module in it */
    in_child("nodev/liblathe-cuda.so", no_device);
    in_child("abi/liblathe-cuda.so", other_abi);
    in_child("noentry/liblathe-cuda.so", no_entry);
    in_child("missing_dep/liblathe-cuda.so", missing_dep);
    in_child("nothere/liblathe-cuda.so", not_found);
    in_child("nodev", concurrent);
    return lt_test_done();
}
