/* libltmissing.so: a library that tests/fake/cuda_module.c (FAKE_MISSING_DEP) links against
 * and that is then out of the loader's reach, as libcublasLt is on a machine without CUDA. */
int lt_fake_missing_dep(void) { return 42; }
