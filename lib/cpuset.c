/* cpuset: CPU lists as Linux writes them ("0-3,6"), parsed into and formatted from cpu_set_t. */
#include "lib/cpuset.h"

#include <errno.h>
#include <stdio.h>

/* One CPU number: digits only, below CPUSET_MAX. */
static int cpu_number(const char **sp, unsigned int *out)
{
	const char *s = *sp;
	unsigned int v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (unsigned int)(*s - '0');
		if (v >= CPUSET_MAX)
			return -ERANGE;
	}
	*sp = s;
	*out = v;
	return 0;
}

int cpuset_parse(const char *s, cpu_set_t *set)
{
	unsigned int lo, hi, cpu;
	cpu_set_t tmp;
	int ret;

	if (!s || !*s)
		return -EINVAL;
	CPU_ZERO(&tmp);
	for (;;) {
		ret = cpu_number(&s, &lo);
		if (ret)
			return ret;
		hi = lo;
		if (*s == '-') {
			s++;
			ret = cpu_number(&s, &hi);
			if (ret)
				return ret;
			if (hi < lo)
				return -EINVAL;
		}
		for (cpu = lo; cpu <= hi; cpu++)
			CPU_SET(cpu, &tmp);
		if (!*s)
			break;
		if (*s++ != ',')
			return -EINVAL;
	}
	*set = tmp;
	return 0;
}

int cpuset_format(const cpu_set_t *set, char *buf, size_t len)
{
	unsigned int cpu = 0, end;
	size_t at = 0;
	int n;

	if (!len)
		return -ENOSPC;
	buf[0] = '\0';
	while (cpu < CPUSET_MAX) {
		if (!CPU_ISSET(cpu, set)) {
			cpu++;
			continue;
		}
		for (end = cpu; end + 1 < CPUSET_MAX && CPU_ISSET(end + 1, set); end++)
			;
		if (end == cpu)
			n = snprintf(buf + at, len - at, "%s%u", at ? "," : "", cpu);
		else
			n = snprintf(buf + at, len - at, "%s%u-%u", at ? "," : "", cpu, end);
		if (n < 0 || (size_t)n >= len - at) {
			buf[0] = '\0';
			return -ENOSPC;
		}
		at += (size_t)n;
		cpu = end + 1;
	}
	return 0;
}

unsigned int cpuset_count(const cpu_set_t *set)
{
	return (unsigned int)CPU_COUNT(set);
}

int cpuset_nth(const cpu_set_t *set, unsigned int n)
{
	unsigned int cpu;

	for (cpu = 0; cpu < CPUSET_MAX; cpu++)
		if (CPU_ISSET(cpu, set) && !n--)
			return (int)cpu;
	return -1;
}

int cpuset_first_outside(const cpu_set_t *a, const cpu_set_t *b)
{
	unsigned int cpu;

	for (cpu = 0; cpu < CPUSET_MAX; cpu++)
		if (CPU_ISSET(cpu, a) && !CPU_ISSET(cpu, b))
			return (int)cpu;
	return -1;
}
