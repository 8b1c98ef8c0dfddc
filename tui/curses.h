/* curses.h - the one place the workbench includes ncurses (wide-character build) and
 * readline; every other file stays curses-free (STYLE P9). */
#ifndef LT_TUI_CURSES_H
#define LT_TUI_CURSES_H

#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif
#include <ncurses.h>
#include <stdio.h> /* readline needs FILE */
#include <readline/history.h>
#include <readline/readline.h>

#endif
