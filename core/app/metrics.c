/* metrics.c - the sample ring and /proc memory probes. See metrics.h. */
#include "core/base/sysmem.h"
#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/llm/generate.h"

struct lt_metrics {
    pthread_mutex_t mu;
    lt_metric_sample *ring;
    int cap, head, count; /* head = next write index */
};

lt_status lt_metrics_create(lt_metrics **out, int cap, lt_err *err) {
    if (cap <= 0) cap = 1200;
    lt_metrics *m = lt_calloc(1, sizeof *m);
    if (m) m->ring = lt_calloc((size_t)cap, sizeof *m->ring);
    if (!m || !m->ring) {
        lt_free(m);
        return lt_err_set(err, LT_ENOMEM, "out of host memory");
    }
    m->cap = cap;
    pthread_mutex_init(&m->mu, NULL);
    *out = m;
    return LT_OK;
}

void lt_metrics_free(lt_metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    lt_free(m->ring);
    lt_free(m);
}

void lt_metrics_push(lt_metrics *m, const lt_metric_sample *s) {
    lt_metric_sample c = *s;
    if (c.t == 0) c.t = lt_now();
    pthread_mutex_lock(&m->mu);
    m->ring[m->head] = c;
    m->head = (m->head + 1) % m->cap;
    if (m->count < m->cap) m->count++;
    pthread_mutex_unlock(&m->mu);
}

bool lt_metrics_latest(lt_metrics *m, lt_metric_sample *out) {
    pthread_mutex_lock(&m->mu);
    bool ok = m->count > 0;
    if (ok) *out = m->ring[(m->head + m->cap - 1) % m->cap];
    pthread_mutex_unlock(&m->mu);
    return ok;
}

int lt_metrics_since(lt_metrics *m, double seconds, lt_metric_sample *out, int cap) {
    double now = lt_now();
    pthread_mutex_lock(&m->mu);
    int first = m->count; /* number of samples to skip from the oldest */
    for (int i = 0; i < m->count; i++) {
        const lt_metric_sample *s = &m->ring[(m->head + m->cap - m->count + i) % m->cap];
        if (now - s->t <= seconds) {
            first = i;
            break;
        }
    }
    int n = m->count - first;
    if (n > cap) first += n - cap, n = cap;
    for (int i = 0; i < n; i++) out[i] = m->ring[(m->head + m->cap - m->count + first + i) % m->cap];
    pthread_mutex_unlock(&m->mu);
    return n;
}

void lt_host_mem(size_t *rss, size_t *total, size_t *avail) {
    *rss = *total = *avail = 0;
    long page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        unsigned long size, res;
        if (fscanf(f, "%lu %lu", &size, &res) == 2) *rss = (size_t)res * (size_t)page;
        fclose(f);
    }
    lt_err e;
    lt_sysmem_info(avail, total, &e); /* leaves the zeros when /proc/meminfo cannot be read */
}
