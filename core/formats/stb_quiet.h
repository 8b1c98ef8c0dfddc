/* stb_quiet.h - LT_STB_QUIET_BEGIN / LT_STB_QUIET_END around an #include of Debian's stb
 * single-header libraries (stb_image_write.h in image.c; stb_image.h as the reference decoder in
 * tests): the warnings their implementations raise under -Wall -Wextra, silenced for them only.
 */
#ifndef LT_STB_QUIET_H
#define LT_STB_QUIET_H

#if defined(__GNUC__)
#define LT_STB_QUIET_BEGIN                                                  \
    _Pragma("GCC diagnostic push")                                          \
    _Pragma("GCC diagnostic ignored \"-Wsign-compare\"")                    \
    _Pragma("GCC diagnostic ignored \"-Wunused-function\"")                 \
    _Pragma("GCC diagnostic ignored \"-Wmisleading-indentation\"")          \
    _Pragma("GCC diagnostic ignored \"-Wimplicit-fallthrough\"")            \
    _Pragma("GCC diagnostic ignored \"-Wunused-but-set-variable\"")
#define LT_STB_QUIET_END _Pragma("GCC diagnostic pop")
#else
#define LT_STB_QUIET_BEGIN
#define LT_STB_QUIET_END
#endif

#endif
