/* test_nvml.c - the workbench's NVML loader (tui/nvml.c) against a stand-in
 * libnvidia-ml.so.1 (tests/fake/nvml.c, found through LD_LIBRARY_PATH set by ctest):
 * symbols resolve, name, utilisation and memory come through, failures give NULL / false.
 * Without the stand-in on the path (a run outside ctest) it checks that absence is NULL. */
#include <stdlib.h>
#include <string.h>

#include "tui/nvml.h"
#include "testutil.h"

int main(void) {
    const char *dir = getenv("LD_LIBRARY_PATH");
    bool fake = dir && strstr(dir, "fake_nvml");
    lt_nvml *n = lt_nvml_open(0);
    if (!fake) {
        printf("no stand-in NVML on LD_LIBRARY_PATH: checking absence only\n");
        CHECK(n == NULL || lt_nvml_name(n)[0]); /* a real NVML may be present */
        lt_nvml_close(n);
        return lt_test_done();
    }
    CHECK(n != NULL);
    CHECK(!strcmp(lt_nvml_name(n), "Fake GPU 0"));
    double util = -1;
    size_t used = 0, total = 0;
    CHECK(lt_nvml_query(n, &util, &used, &total));
    CHECK(util == 37.0 && used == (20ull << 30) && total == (80ull << 30));
    setenv("FAKE_NVML_FAIL", "util", 1);
    CHECK(!lt_nvml_query(n, &util, &used, &total));
    lt_nvml_close(n);
    CHECK(lt_nvml_open(1) == NULL); /* no second device */
    setenv("FAKE_NVML_FAIL", "init", 1);
    CHECK(lt_nvml_open(0) == NULL);
    unsetenv("FAKE_NVML_FAIL");
    CHECK(!lt_nvml_query(NULL, &util, &used, &total));
    CHECK(!strcmp(lt_nvml_name(NULL), ""));
    return lt_test_done();
}
