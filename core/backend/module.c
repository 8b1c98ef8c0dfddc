/* module.c - the CUDA backend as a module loaded at run time (as llama.cpp's dynamic
 * backends are): liblathe-cuda.so links the CUDA libraries, the lathe binary and the tests do
 * not, so a lathe built with CUDA starts and runs on the CPU where those libraries are missing,
 * and CPU-only runs never map them.
 *
 * The module is looked for once, the first time "cuda" or "auto" is asked for: the file (or
 * folder) $LATHE_CUDA_MODULE when set, else liblathe-cuda.so in the folder of
 * /proc/self/exe, else in LT_CUDA_MODULE_DIR (the build folder, compiled in by CMake). It is
 * opened with dlopen (RTLD_NOW | RTLD_LOCAL), its one entry point lt_cuda_module_entry is
 * looked up, and its ABI version and struct sizes are checked against backend_impl.h. Every
 * failure is kept as a state plus a one-line reason (lt_backend_cuda_status); a loaded module
 * stays loaded until the process exits.
 * Leaves out: more than one module, unloading.
 */
#include "module.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef LT_CUDA_MODULE_DIR /* set by CMake: the build folder, where the module is built */
#define LT_CUDA_MODULE_DIR ""
#endif
#ifndef LT_CUDA_MODULE_BUILT /* set by CMake: 1 when this build produced the module */
#define LT_CUDA_MODULE_BUILT 0
#endif

static struct {
    pthread_mutex_t mu;
    lt_module_state state;
    void *handle;
    const lt_backend_module *mod;
    int n_devices;
    char path[PATH_MAX];          /* the module's file, once found */
    char detail[LT_ERR_MSG_MAX];  /* why it is not usable */
    char versions[128];           /* "CUDA runtime 13.0, driver 12.8" once loaded */
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

bool lt_backend_cuda_built(void) { return LT_CUDA_MODULE_BUILT != 0; }

const char *lt_module_state_brief(lt_module_state s) {
    switch (s) {
    case LT_MODULE_UNTRIED: return "not loaded";
    case LT_MODULE_NOT_FOUND: return "module not found";
    case LT_MODULE_LOAD_FAILED: return "module failed to load";
    case LT_MODULE_NOT_A_MODULE: return "not a lathe module";
    case LT_MODULE_ABI_MISMATCH: return "module ABI mismatch";
    case LT_MODULE_NO_DEVICE: return "no device";
    case LT_MODULE_READY: return "ready";
    }
    return "?";
}

static void append(char *buf, size_t cap, const char *fmt, const char *a) {
    size_t n = strlen(buf);
    if (n + 1 < cap) snprintf(buf + n, cap - n, fmt, a);
}

/* True when path is a regular file; a non-regular one (a folder, a FIFO that would block
 * dlopen) is reported through *odd. */
static bool is_file(const char *path, bool *odd) {
    struct stat st;
    if (stat(path, &st) != 0) return false;
    if (S_ISREG(st.st_mode)) return true;
    *odd = true;
    return false;
}

/* Fills g.path with the module's file, or g.detail with where it was looked for. Returns
 * the state: LT_MODULE_UNTRIED (found: go on loading), NOT_FOUND or LOAD_FAILED. */
static lt_module_state find(void) {
    const char *env = getenv("LATHE_CUDA_MODULE");
    bool odd = false;
    if (env && *env) {
        struct stat st;
        bool dir = stat(env, &st) == 0 && S_ISDIR(st.st_mode); /* a folder: the module inside it */
        if (dir) snprintf(g.path, sizeof g.path, "%s/%s", env, LT_CUDA_MODULE_FILE);
        else snprintf(g.path, sizeof g.path, "%s", env);
        if (is_file(g.path, &odd)) return LT_MODULE_UNTRIED;
        if (odd) {
            snprintf(g.detail, sizeof g.detail, "the CUDA module %.400s could not be loaded: not a regular file",
                     g.path);
            return LT_MODULE_LOAD_FAILED;
        }
        snprintf(g.detail, sizeof g.detail, "the CUDA module was not found (looked in: LATHE_CUDA_MODULE=%.400s%s)",
                 env, dir ? ", a folder without " LT_CUDA_MODULE_FILE : "");
        g.path[0] = 0;
        return LT_MODULE_NOT_FOUND;
    }
    char dirs[2][PATH_MAX];
    int n = 0;
    ssize_t len = readlink("/proc/self/exe", dirs[0], sizeof dirs[0] - 1);
    if (len > 0) {
        dirs[0][len] = 0;
        char *slash = strrchr(dirs[0], '/');
        if (slash) {
            *slash = 0;
            if (slash == dirs[0]) strcpy(dirs[0], "/");
            n = 1;
        }
    }
    if (LT_CUDA_MODULE_DIR[0] && (n == 0 || strcmp(dirs[0], LT_CUDA_MODULE_DIR)))
        snprintf(dirs[n++], sizeof dirs[0], "%s", LT_CUDA_MODULE_DIR);
    char looked[LT_ERR_MSG_MAX] = "";
    for (int i = 0; i < n; i++) {
        snprintf(g.path, sizeof g.path, "%.4000s/%s", dirs[i], LT_CUDA_MODULE_FILE);
        if (is_file(g.path, &odd)) return LT_MODULE_UNTRIED;
        append(looked, sizeof looked, i ? ", %s" : "%s", dirs[i]);
    }
    g.path[0] = 0;
    snprintf(g.detail, sizeof g.detail, "the CUDA module %s was not found (looked in: %.300s)%s", LT_CUDA_MODULE_FILE,
             n ? looked : "nowhere: /proc/self/exe unreadable",
             LT_CUDA_MODULE_BUILT ? "" : "; this lathe was built without it (configure with -DLATHE_CUDA=ON where "
                                         "nvcc is installed)");
    return LT_MODULE_NOT_FOUND;
}

static lt_module_state load(void) {
    lt_module_state st = find();
    if (st != LT_MODULE_UNTRIED) return st;
    (void)dlerror();
    g.handle = dlopen(g.path, RTLD_NOW | RTLD_LOCAL);
    if (!g.handle) {
        const char *e = dlerror();
        if (!e) e = "unknown dlopen error";
        size_t pl = strlen(g.path); /* dlerror often starts with the file's own name */
        if (!strncmp(e, g.path, pl) && !strncmp(e + pl, ": ", 2)) e += pl + 2;
        snprintf(g.detail, sizeof g.detail, "the CUDA module %.200s could not be loaded: %.200s%s", g.path, e,
                 strstr(e, "failed to map segment") ? " (out of address space? see ulimit -v)" : "");
        return LT_MODULE_LOAD_FAILED;
    }
    const lt_backend_module *(*entry)(void) = NULL;
    *(void **)&entry = dlsym(g.handle, LT_CUDA_MODULE_ENTRY);
    const lt_backend_module *m = entry ? entry() : NULL;
    if (!m) {
        snprintf(g.detail, sizeof g.detail, "%.300s is not a lathe CUDA module (it has no %s)", g.path,
                 LT_CUDA_MODULE_ENTRY);
        st = LT_MODULE_NOT_A_MODULE;
    } else if (m->abi_version != LT_BACKEND_ABI_VERSION) {
        snprintf(g.detail, sizeof g.detail,
                 "the CUDA module %.300s has ABI version %u, expected %u (use the module built with this lathe)",
                 g.path, m->abi_version, (unsigned)LT_BACKEND_ABI_VERSION);
        st = LT_MODULE_ABI_MISMATCH;
    } else if (m->size_module != sizeof(lt_backend_module) || m->size_ops != sizeof(lt_backend_ops) ||
               m->size_backend != sizeof(lt_backend) || m->size_tensor != sizeof(lt_tensor) ||
               m->size_err != sizeof(lt_err) || !m->name || strcmp(m->name, "cuda") || !m->device_count ||
               !m->versions || !m->create) {
        snprintf(g.detail, sizeof g.detail,
                 "the CUDA module %.300s has ABI version %u but other struct sizes than this lathe (use the module "
                 "built with this lathe)",
                 g.path, m->abi_version);
        st = LT_MODULE_ABI_MISMATCH;
    }
    if (st != LT_MODULE_UNTRIED) {
        dlclose(g.handle); /* nothing of it has run but its constructors */
        g.handle = NULL;
        return st;
    }
    g.mod = m;
    m->versions(g.versions, sizeof g.versions);
    lt_err e = {0};
    g.n_devices = m->device_count(&e);
    if (g.n_devices <= 0) {
        g.n_devices = 0;
        snprintf(g.detail, sizeof g.detail, "%s", e.msg[0] ? e.msg : "no CUDA device is present");
        return LT_MODULE_NO_DEVICE;
    }
    return LT_MODULE_READY;
}

/* The state after loading once; call with g.mu held. */
static lt_module_state probe_locked(void) {
    if (g.state == LT_MODULE_UNTRIED) g.state = load();
    return g.state;
}

/* "REASON" for a state that is not READY; call with g.mu held. */
static void reason_locked(char *buf, size_t cap) {
    if (g.state == LT_MODULE_NO_DEVICE)
        snprintf(buf, cap, "no usable CUDA device: %s (module %s; %s)", g.detail, g.path, g.versions);
    else snprintf(buf, cap, "%s", g.detail);
}

bool lt_cuda_module_usable(char *why, size_t cap) {
    pthread_mutex_lock(&g.mu);
    bool ok = probe_locked() == LT_MODULE_READY;
    if (!ok && why) reason_locked(why, cap);
    pthread_mutex_unlock(&g.mu);
    return ok;
}

lt_status lt_cuda_module_create(lt_backend **out, const lt_backend_opts *opts, lt_err *err) {
    pthread_mutex_lock(&g.mu);
    const lt_backend_module *m = g.state == LT_MODULE_READY ? g.mod : NULL;
    pthread_mutex_unlock(&g.mu);
    if (!m) return lt_err_set(err, LT_EUNSUPPORTED, "device cuda: the CUDA module is not loaded");
    return m->create(out, opts, err);
}

bool lt_backend_cuda_available(void) { return lt_cuda_module_usable(NULL, 0); }

bool lt_cuda_driver_present(void) {
    const char *env = getenv("LATHE_CUDA_MODULE");
    if (env && env[0]) return true;
    return access("/dev/nvidiactl", F_OK) == 0 || access("/proc/driver/nvidia/version", F_OK) == 0;
}

lt_module_state lt_backend_cuda_status(bool probe, char *buf, size_t cap) {
    if (probe) pthread_mutex_lock(&g.mu);
    else if (pthread_mutex_trylock(&g.mu) != 0) { /* being loaded by another thread: never wait */
        if (buf && cap) snprintf(buf, cap, "being loaded");
        return LT_MODULE_UNTRIED;
    }
    lt_module_state st = probe ? probe_locked() : g.state;
    if (buf && cap) {
        switch (st) {
        case LT_MODULE_UNTRIED:
            snprintf(buf, cap, "%s", lt_cuda_driver_present() ? "not loaded (only --device cuda or auto loads it)"
                                                              : "not loaded: no NVIDIA driver on this machine");
            break;
        case LT_MODULE_READY:
            snprintf(buf, cap, "module %s loaded, %d device%s (%s)", g.path, g.n_devices, g.n_devices == 1 ? "" : "s",
                     g.versions);
            break;
        case LT_MODULE_NO_DEVICE:
            snprintf(buf, cap, "module %s loaded, 0 devices: %s (%s)", g.path, g.detail, g.versions);
            break;
        default: {
            char why[LT_ERR_MSG_MAX];
            reason_locked(why, sizeof why);
            snprintf(buf, cap, "not available: %s", why);
        }
        }
    }
    pthread_mutex_unlock(&g.mu);
    return st;
}
