/* signame: a signal as `runc kill` takes it — a number, or a name with or without SIG. */
#ifndef HULL_CONTAINER_SIGNAME_H
#define HULL_CONTAINER_SIGNAME_H

/* The guest's real-time range as its C library shows it (glibc keeps 32 and 33 for itself). */
#define CTR_SIGRTMIN 34
#define CTR_SIGRTMAX 64

/*
 * runc's rules (and moby's signal.ParseSignal, which docker's users know): a decimal number
 * 1..CTR_SIGRTMAX as is; otherwise a name, case-insensitive, "SIG" optional: KILL, SIGKILL,
 * kill, SigTerm; RTMIN, RTMIN+N and RTMAX-N within the real-time range. 0 with *sig, or
 * -EINVAL ("unknown signal" is runc's word for it).
 */
int ctr_signal_parse(const char *s, int *sig);

/* "SIGTERM" for 15, "SIGRTMIN+3" for 37; NULL outside 1..CTR_SIGRTMAX. */
const char *ctr_signal_name(int sig, char *buf, unsigned int len);

#endif
