/* util: the small macros every layer shares (container_of, ARRAY_SIZE). */
#ifndef HULL_LIB_UTIL_H
#define HULL_LIB_UTIL_H

#include <stddef.h>

/* The struct of type that holds member at p (per-instance state embeds its generic part). */
#define container_of(p, type, member) ((type *)(void *)((char *)(p) - offsetof(type, member)))

/* Elements of an array (not a pointer). */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
