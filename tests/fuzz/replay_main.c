/* replay_main.c - a plain driver for the fuzz targets, for builds without libFuzzer (gcc):
 * runs LLVMFuzzerTestOneInput once on every file named on the command line or found in a
 * folder named there (missing folders are skipped), in name order. A target aborts on what
 * it checks, so a non-zero exit or a sanitizer report means a regression. ctest runs it as
 * fuzz_corpus_NAME over tests/fuzz/corpus/NAME and tests/fuzz/regress/NAME.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t cap = 1 << 16, n = 0, k;
    uint8_t *b = malloc(cap);
    while (b && (k = fread(b + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) b = realloc(b, cap *= 2);
    }
    fclose(f);
    if (!b) return 1;
    /* an exact-size copy, so ASan sees a read past the input's end as libFuzzer would */
    uint8_t *d = malloc(n ? n : 1);
    memcpy(d, b, n);
    free(b);
    LLVMFuzzerTestOneInput(d, n);
    free(d);
    return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    /* absolute paths first: a target may chdir in LLVMFuzzerInitialize (fuzz_commands does) */
    for (int i = 1; i < argc; i++) {
        char *r = realpath(argv[i], NULL);
        if (r) argv[i] = r;
    }
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    int files = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) continue; /* e.g. no regress/ folder for this target */
        if (!S_ISDIR(st.st_mode)) {
            bad += run_file(argv[i]), files++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d) continue;
        char **names = NULL;
        size_t n = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            names = realloc(names, (n + 1) * sizeof *names);
            names[n++] = strdup(e->d_name);
        }
        closedir(d);
        if (n) qsort(names, n, sizeof *names, by_name);
        for (size_t j = 0; j < n; j++) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[i], names[j]);
            fprintf(stderr, "%s\n", p);
            bad += run_file(p), files++;
            free(names[j]);
        }
        free(names);
    }
    printf("%d inputs ran, %d unreadable\n", files, bad);
    return bad != 0 || files == 0;
}
