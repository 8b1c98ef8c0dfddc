/* test_dynlib.c - libraries opened on first use (core/base/dynlib.h): a table filled from a
 * real library (libm's cos and sqrt, called through it); a missing library and a missing
 * symbol refused with a message naming them and the table left empty; the two libraries lathe
 * loads this way (libzip, libmicrohttpd) load here and are not linked into lathe at start.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/app/mhd_lib.h"
#include "core/base/dynlib.h"
#include "core/formats/zip_lib.h"
#include "tests/testutil.h"

#define M_FNS(X) X(cos) X(sqrt)
static struct m_fns {
    M_FNS(LT_DYNLIB_MEMBER)
} g_m;
static const char *const g_m_names[] = {M_FNS(LT_DYNLIB_NAME)};

static struct m_fns g_bad_sym;
static const char *const g_bad_names[] = {"cos", "lt_no_such_function"};

int main(void) {
    lt_err err = {0};
    lt_dynlib m = LT_DYNLIB_INIT("libm", "libm.so.6", g_m_names, &g_m);
    CHECKF(lt_dynlib_load(&m, &err) == LT_OK, "%s", err.msg);
    CHECK(g_m.cos && g_m.sqrt && g_m.cos(0.0) == 1.0 && g_m.sqrt(16.0) == 4.0);
    CHECK(lt_dynlib_load(&m, &err) == LT_OK); /* loaded once, then the same answer */

    struct m_fns none = {0};
    lt_dynlib gone = LT_DYNLIB_INIT("libnothing", "liblt-not-installed.so.9", g_m_names, &none);
    lt_status st = lt_dynlib_load(&gone, &err);
    CHECK(st == LT_EUNSUPPORTED);
    CHECKF(strstr(err.msg, "libnothing") && strstr(err.msg, "liblt-not-installed.so.9"), "%s", err.msg);
    CHECK(!none.cos && !none.sqrt);
    err.msg[0] = 0;
    CHECK(lt_dynlib_load(&gone, &err) == LT_EUNSUPPORTED && strstr(err.msg, "libnothing")); /* remembered */

    lt_dynlib bad = LT_DYNLIB_INIT("libm", "libm.so.6", g_bad_names, &g_bad_sym);
    CHECK(lt_dynlib_load(&bad, &err) == LT_EUNSUPPORTED);
    CHECKF(strstr(err.msg, "lt_no_such_function"), "%s", err.msg);
    CHECK(!g_bad_sym.cos && !g_bad_sym.sqrt);

    CHECKF(lt_zip_load(&err) == LT_OK && lt_zip.zip_open && lt_zip.zip_strerror, "%s", err.msg);
    CHECKF(lt_mhd_load(&err) == LT_OK && lt_mhd.MHD_start_daemon && lt_mhd.MHD_stop_daemon, "%s", err.msg);

    /* lathe itself starts without them (nor GnuTLS / libcrypto) */
    const char *bin = getenv("LATHE_BIN");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ldd '%s' 2>/dev/null", bin ? bin : "");
    FILE *f = bin ? popen(cmd, "r") : NULL;
    if (f) {
        char line[512];
        int n = 0;
        while (fgets(line, sizeof line, f)) {
            n++;
            CHECKF(!strstr(line, "libzip") && !strstr(line, "libmicrohttpd") && !strstr(line, "gnutls") &&
                       !strstr(line, "libcrypto"),
                   "lathe links %s", line);
        }
        pclose(f);
        CHECK(n > 0);
    }
    return lt_test_done();
}
