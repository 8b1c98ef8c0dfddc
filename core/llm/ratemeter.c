/* ratemeter.c - see ratemeter.h. */
#include "ratemeter.h"

#include <string.h>

void lt_ratemeter_init(lt_ratemeter *m) { memset(m, 0, sizeof *m); }

void lt_ratemeter_token(lt_ratemeter *m, double now, bool step_end) {
    m->n++;
    if (!step_end) return;
    if (!m->started) {
        m->started = true;
        m->t0 = m->t_end = now;
        m->n0 = m->n_end = m->n;
        return;
    }
    m->t_end = now;
    m->n_end = m->n;
}

double lt_ratemeter_rate(const lt_ratemeter *m, double min_s) {
    double dt = m->t_end - m->t0;
    int dn = m->n_end - m->n0;
    if (!m->started || dn <= 0 || !(dt > 0) || dt < min_s) return 0;
    return dn / dt;
}
