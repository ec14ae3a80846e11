/* loader: recognise a kernel image by its content and hand it to the right loader. */
#include "boot/boot.h"

#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* bzImage: boot sector signature, then the "HdrS" setup header magic. */
#define BZ_SIG_OFF   0x1fe
#define BZ_MAGIC_OFF 0x202

static int is_elf(const uint8_t *img, size_t len)
{
	return len >= 4 && memcmp(img, "\x7f" "ELF", 4) == 0;
}

static int is_bzimage(const uint8_t *img, size_t len)
{
	return len >= BZ_MAGIC_OFF + 4 && img[BZ_SIG_OFF] == 0x55 && img[BZ_SIG_OFF + 1] == 0xaa &&
	       memcmp(img + BZ_MAGIC_OFF, "HdrS", 4) == 0;
}

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

static int dispatch(const struct gmem *m, const uint8_t *img, size_t len, uint64_t min_addr,
		    struct boot_image *out, const char **msg, bool copy)
{
	if (img && is_elf(img, len))
		return (copy ? boot_load_elf : boot_check_elf)(m, img, len, min_addr, out, msg);
	if (img && is_bzimage(img, len))
		return (copy ? boot_load_bzimage : boot_check_bzimage)(m, img, len, min_addr, out,
								       msg);
	if (msg)
		*msg = "not an ELF or bzImage kernel";
	return -ENOEXEC;
}

int boot_load_kernel(const struct gmem *m, const uint8_t *img, size_t len, uint64_t min_addr,
		     struct boot_image *out, const char **msg)
{
	return dispatch(m, img, len, min_addr, out, msg, true);
}

int boot_check_kernel(const struct gmem *m, const uint8_t *img, size_t len, uint64_t min_addr,
		      struct boot_image *out, const char **msg)
{
	return dispatch(m, img, len, min_addr, out, msg, false);
}
