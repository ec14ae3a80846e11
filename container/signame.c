/* signame: a signal as `runc kill` takes it — a number, or a name with or without SIG. */
#include "container/signame.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/parse.h"

/* Linux's x86 numbers by name (the guest's; the host's are the same, but say it here). */
static const struct {
	const char *name;
	int sig;
} signals[] = {
	{ "HUP", 1 },	  { "INT", 2 },	    { "QUIT", 3 },   { "ILL", 4 },    { "TRAP", 5 },
	{ "ABRT", 6 },	  { "IOT", 6 },	    { "BUS", 7 },    { "FPE", 8 },    { "KILL", 9 },
	{ "USR1", 10 },	  { "SEGV", 11 },   { "USR2", 12 },  { "PIPE", 13 },  { "ALRM", 14 },
	{ "TERM", 15 },	  { "STKFLT", 16 }, { "CHLD", 17 },  { "CLD", 17 },   { "CONT", 18 },
	{ "STOP", 19 },	  { "TSTP", 20 },   { "TTIN", 21 },  { "TTOU", 22 },  { "URG", 23 },
	{ "XCPU", 24 },	  { "XFSZ", 25 },   { "VTALRM", 26 }, { "PROF", 27 }, { "WINCH", 28 },
	{ "IO", 29 },	  { "POLL", 29 },   { "PWR", 30 },   { "SYS", 31 },
};

/* "+N" / "-N" after RTMIN / RTMAX: the offset, or -1. */
static int rt_offset(const char *s, char sign)
{
	uint64_t v;

	if (!*s)
		return 0;
	if (*s != sign || parse_uint(s + 1, 0, CTR_SIGRTMAX - CTR_SIGRTMIN, &v))
		return -1;
	return (int)v;
}

int ctr_signal_parse(const char *s, int *sig)
{
	const char *name = s;
	uint64_t v;
	unsigned int i;
	int off;

	if (*s >= '0' && *s <= '9') {
		if (parse_uint(s, 1, CTR_SIGRTMAX, &v))
			return -EINVAL;
		*sig = (int)v;
		return 0;
	}
	if (!strncasecmp(name, "SIG", 3))
		name += 3;
	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		if (!strcasecmp(name, signals[i].name)) {
			*sig = signals[i].sig;
			return 0;
		}
	if (!strncasecmp(name, "RTMIN", 5) && (off = rt_offset(name + 5, '+')) >= 0) {
		*sig = CTR_SIGRTMIN + off;
		return 0;
	}
	if (!strncasecmp(name, "RTMAX", 5) && (off = rt_offset(name + 5, '-')) >= 0) {
		*sig = CTR_SIGRTMAX - off;
		return 0;
	}
	return -EINVAL;
}

const char *ctr_signal_name(int sig, char *buf, unsigned int len)
{
	unsigned int i;

	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		if (signals[i].sig == sig) {
			snprintf(buf, len, "SIG%s", signals[i].name);
			return buf;
		}
	if (sig >= CTR_SIGRTMIN && sig <= CTR_SIGRTMAX) {
		snprintf(buf, len, "SIGRTMIN+%d", sig - CTR_SIGRTMIN);
		return buf;
	}
	if (sig == 32 || sig == 33) {
		snprintf(buf, len, "SIG%d", sig);
		return buf;
	}
	return NULL;
}
