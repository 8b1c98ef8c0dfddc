/* dynlib.c - load a shared library on first use (dynlib.h). */
#define _GNU_SOURCE
#include "dynlib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* pthread_once takes no argument: the library being loaded is passed through this slot,
 * guarded by its own mutex (loads are rare and short). */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static lt_dynlib *g_cur;

static void load_cur(void) {
    lt_dynlib *lib = g_cur;
    void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(lib->msg, sizeof lib->msg, "%s is not installed or cannot be loaded (%s)", lib->what,
                 e ? e : lib->soname);
        lib->st = LT_EUNSUPPORTED;
        return;
    }
    void **slots = lib->table;
    for (size_t i = 0; i < lib->n; i++) {
        void *p = dlsym(h, lib->names[i]);
        if (!p) {
            snprintf(lib->msg, sizeof lib->msg, "%s (%s) lacks %s: a version too old for lathe", lib->what,
                     lib->soname, lib->names[i]);
            memset(slots, 0, lib->n * sizeof(void *));
            dlclose(h);
            lib->st = LT_EUNSUPPORTED;
            return;
        }
        memcpy(&slots[i], &p, sizeof p); /* POSIX: a function's address converts through void * */
    }
    lib->st = LT_OK;
}

lt_status lt_dynlib_load(lt_dynlib *lib, lt_err *err) {
    pthread_mutex_lock(&g_mu);
    g_cur = lib;
    pthread_once(&lib->once, load_cur);
    g_cur = NULL;
    pthread_mutex_unlock(&g_mu);
    if (lib->st != LT_OK) return lt_err_set(err, lib->st, "%s", lib->msg);
    return LT_OK;
}
