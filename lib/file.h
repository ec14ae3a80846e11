/* file: read a whole user-named file into memory, with a size limit; hull's open-file limit. */
#ifndef HULL_LIB_FILE_H
#define HULL_LIB_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

/*
 * Read all of path into a new NUL-terminated buffer (*out, freed by the
 * caller; *len excludes the NUL). Errors: -errno from open/fstat/read,
 * -EISDIR, -EINVAL for something that is not a regular file, -EFBIG past
 * max bytes, -EIO when the file shrinks while being read.
 */
int file_read_all(const char *path, uint64_t max, uint8_t **out, size_t *len);

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

#endif
