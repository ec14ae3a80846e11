/* loader: what every kernel loader shares (here and in arch/): the reason a load failed. */
#include "boot/boot.h"

#include <stdarg.h>
#include <stdio.h>

/*
 * The caller's msg is a plain const char * with no room for numbers, so a
 * formatted reason lives here, one per thread, until the next load.
 */
static _Thread_local char why[128];

int boot_fail(const char **msg, int err, const char *fmt, ...)
{
	va_list ap;

	if (msg) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
		*msg = why;
	}
	return err;
}
