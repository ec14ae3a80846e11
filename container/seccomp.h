/* seccomp: config.json's linux.seccomp compiled with libseccomp into the classic BPF program hull-init loads. */
#ifndef HULL_CONTAINER_SECCOMP_H
#define HULL_CONTAINER_SECCOMP_H

#include <stddef.h>

/* The kernel's bound on a classic BPF program (BPF_MAXINSNS), 8 bytes an instruction. */
#define CTR_SECCOMP_MAX_INSNS 4096

/*
 * How many CPU seconds libseccomp may take over one profile (real ones take milliseconds; CPU
 * time, so a busy host does not make a good profile fail). The Valgrind build raises both
 * bounds: there every instruction costs some 50 times more, and under Valgrind in the lab's
 * emulated L1 some 30 times more again, and a large profile must still compile.
 */
#ifndef SECCOMP_COMPILE_SECONDS
#define SECCOMP_COMPILE_SECONDS 3
#endif
/* A wall-clock bound on libseccomp's child too, for a child that gets no CPU at all. */
#ifndef SECCOMP_COMPILE_WALL_SECONDS
#define SECCOMP_COMPILE_WALL_SECONDS 60
#endif

/* Compiled profiles kept in $HULL_CACHE/seccomp, the newest by mtime (a host runs a few). */
#define CTR_SECCOMP_CACHE_KEEP 16
#define CTR_SECCOMP_CACHE_SUBDIR "seccomp"

/*
 * Compile a linux.seccomp object (JSON text, len bytes) as runc does: defaultAction (and
 * defaultErrnoRet), architectures, flags, syscalls[] with names, action, errnoRet and args.
 * A syscall name libseccomp does not know is skipped (one warning, as runc); anything else it
 * cannot honour is an error naming the field. On success *prog is a malloc'd
 * struct sock_filter[] of *len bytes (a whole number of instructions, at most
 * CTR_SECCOMP_MAX_INSNS) and *flags the SECCOMP_FILTER_FLAG_* bits its load takes (LOG,
 * SPEC_ALLOW). 0, or -errno with the message in err.
 */
int ctr_seccomp_compile(const char *text, size_t len, void **prog, size_t *prog_len,
			unsigned int *flags, char *err, size_t errlen);

/*
 * runc's `features` object for seccomp: enabled, the actions, operators and architectures
 * hull compiles, the flags known and those supported. NULL when out of memory.
 */
struct json_object *ctr_seccomp_features(void);

#endif
