/* cpuset: CPU lists as Linux writes them ("0-3,6"), parsed into and formatted from cpu_set_t. */
#ifndef HULL_LIB_CPUSET_H
#define HULL_LIB_CPUSET_H

#include <sched.h>
#include <stddef.h>

/*
 * CPUs 0 .. CPUSET_MAX - 1 (glibc's fixed cpu_set_t): a CPU number past it is
 * -ERANGE. The longest list of them, formatted, fits CPUSET_LIST_MAX bytes.
 */
#define CPUSET_MAX CPU_SETSIZE
#define CPUSET_LIST_MAX 4096

/*
 * "0-3,6", "5", "0,2-2": comma-separated CPU numbers and ascending (or equal)
 * ranges, decimal, nothing else (no spaces, no trailing newline, no kernel
 * stride syntax). The empty string and garbage are -EINVAL, a range whose end
 * is below its start too; -ERANGE for a CPU at or past CPUSET_MAX. *set is
 * written only on success.
 */
int cpuset_parse(const char *s, cpu_set_t *set);
/* The shortest list of set ("0-3,6"; "" for an empty set): 0, or -ENOSPC past len bytes. */
int cpuset_format(const cpu_set_t *set, char *buf, size_t len);
/* The CPUs in set. */
unsigned int cpuset_count(const cpu_set_t *set);
/* The n-th CPU of set in ascending order, counting from 0; -1 when set has n or fewer. */
int cpuset_nth(const cpu_set_t *set, unsigned int n);
/* The lowest CPU of a that is not in b; -1 when a is a subset of b. */
int cpuset_first_outside(const cpu_set_t *a, const cpu_set_t *b);

#endif
