/* file: read a user-named file with a size limit; non-blocking output; the open-file limit. */
#ifndef HULL_LIB_FILE_H
#define HULL_LIB_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/uio.h>

/*
 * Read all of path into a new NUL-terminated buffer (*out, freed by the
 * caller; *len excludes the NUL). Errors: -errno from open/fstat/read,
 * -EISDIR, -EINVAL for something that is not a regular file, -EFBIG past
 * max bytes, -EIO when the file shrinks while being read.
 */
int file_read_all(const char *path, uint64_t max, uint8_t **out, size_t *len);

/*
 * Read a file whose size stat() does not tell (/proc, sysfs, cgroupfs) to its end into a new
 * NUL-terminated buffer (*out, freed by the caller; *len excludes the NUL): 0, -errno from
 * open/read, -EFBIG when it holds more than max bytes.
 */
int file_read_text(const char *path, size_t max, char **out, size_t *len);

/* A message for file_read_all()'s error codes ("not a regular file", "file too large", ...). */
const char *file_strerror(int err);

/*
 * Raise RLIMIT_NOFILE as far as hull may: the hard limit up to the system's
 * ceiling (fs.nr_open) when privileged, as systemd does for services, then
 * the soft limit to the hard one. For devices that hold a descriptor per
 * guest object (virtio-fs inodes, vsock connections). Returns the soft limit
 * now in force (RLIM_INFINITY possible; 0 if it cannot be read).
 */
rlim_t file_raise_nofile(void);

/*
 * An output hull writes without ever blocking, whatever its reader does (guest console output
 * on stdout, hull's own messages on stderr): a stalled terminal or a full pipe must not stop a
 * vCPU or the event loop. file.c says how each kind of descriptor is handled.
 */
struct file_out {
	int fd;      /* where writes go: the original descriptor or hull's reopening of it; -1 */
	int flags;   /* the original's status flags, put back by file_out_close; -1: untouched */
	bool own;    /* fd is hull's own reopening (closed by file_out_close) */
	bool socket; /* a socket: written with send(MSG_DONTWAIT) */
};

/*
 * Prepare fd for writes that never block. 0, or -errno when fd is closed or unusable (o->fd
 * stays -1). o->flags >= 0 afterwards means the fallback was taken: O_NONBLOCK set on fd
 * itself, shared with whoever else holds its open file description until file_out_close.
 */
int file_out_open(struct file_out *o, int fd);
/* writev without blocking: the bytes taken, or -errno (-EAGAIN: full; nothing was written). */
ssize_t file_out_writev(const struct file_out *o, const struct iovec *iov, int n);
/* Put fd's flags back, close hull's reopening. o may be closed twice; fd -1 is fine. */
void file_out_close(struct file_out *o);

#endif
