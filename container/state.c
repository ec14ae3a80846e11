/* state: the OCI runtime's state directory <root>/<id>/ — ids, a per-container lock, state.json. */
#include "container/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "container/oci.h"
#include "container/oci_json.h"
#include "lib/file.h"
#include "lib/json.h"

static const char *const status_names[] = {
	[CTR_CREATING] = "creating", [CTR_CREATED] = "created", [CTR_RUNNING] = "running",
	[CTR_PAUSED] = "paused",     [CTR_STOPPED] = "stopped",
};

int ctr_id_check(const char *id, char *err, size_t errlen)
{
	size_t i, n = strlen(id);

	if (!n || n > CTR_ID_MAX) {
		snprintf(err, errlen, "invalid container id '%.*s': 1 to %d characters", 64, id,
			 CTR_ID_MAX);
		return -EINVAL;
	}
	if (!strcmp(id, ".") || !strcmp(id, "..")) {
		snprintf(err, errlen, "invalid container id '%s'", id);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		char c = id[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '+' || c == '.' || c == '-')
			continue;
		snprintf(err, errlen, "invalid container id '%.64s': only A-Z a-z 0-9 _ + . - "
			 "(byte %zu is 0x%02x)", id, i, (unsigned char)c);
		return -EINVAL;
	}
	return 0;
}

const char *ctr_status_name(enum ctr_status s)
{
	return (unsigned int)s < sizeof(status_names) / sizeof(status_names[0]) ? status_names[s]
										  : "unknown";
}

int ctr_status_parse(const char *s, enum ctr_status *out)
{
	unsigned int i;

	for (i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (!strcmp(s, status_names[i])) {
			*out = (enum ctr_status)i;
			return 0;
		}
	return -EINVAL;
}

void ctr_state_time(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char day[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%09ldZ", day, ts.tv_nsec);
}

/* "YYYY-MM-DDTHH:MM:SS[.fraction]Z" or with a "+HH:MM"/"-HH:MM" offset: RFC 3339. */
static bool time_ok(const char *s)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:dd";
	size_t i;

	for (i = 0; pat[i]; i++)
		if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
			return false;
	s += i;
	if (*s == '.') {
		if (s[1] < '0' || s[1] > '9')
			return false;
		for (s++; *s >= '0' && *s <= '9'; s++)
			;
	}
	if (!strcmp(s, "Z"))
		return true;
	return (s[0] == '+' || s[0] == '-') && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' &&
	       s[2] <= '9' && s[3] == ':' && s[4] >= '0' && s[4] <= '9' && s[5] >= '0' &&
	       s[5] <= '9' && !s[6];
}

int ctr_proc_start(pid_t pid, uint64_t *out)
{
	char path[64], buf[1024], *p, *end;
	unsigned long long v;
	ssize_t n;
	int fd, field;

	if (pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -ESRCH;
	buf[n] = '\0';
	/* The command name may hold anything, ")" too: the fields start after the last ")". */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -EINVAL;
	p += 2;
	/* Field 3 is the state: a zombie has exited (its parent has not reaped it yet). */
	if (*p == 'Z' || *p == 'X')
		return -ESRCH;
	for (field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -EINVAL;
		p++;
	}
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno || end == p || (*end != ' ' && *end != '\n' && *end))
		return -EINVAL;
	*out = v;
	return 0;
}

/* <root>/<id>[/<file>] into buf: 0 or -ENAMETOOLONG (named in err). */
static int state_path(char *buf, size_t len, const char *root, const char *id, const char *file,
		      char *err, size_t errlen)
{
	int n = file ? snprintf(buf, len, "%s/%s/%s", root, id, file)
		     : snprintf(buf, len, "%s/%s", root, id);

	if (n < 0 || (size_t)n >= len) {
		snprintf(err, errlen, "state directory %s/%s: %s", root, id, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	return 0;
}

static int no_such(const char *id, char *err, size_t errlen)
{
	snprintf(err, errlen, "container \"%s\" does not exist", id);
	return -ENOENT;
}

/* mkdir -p root, each new directory mode. */
static int make_root(const char *root, mode_t mode, char *err, size_t errlen)
{
	char path[PATH_MAX];
	size_t i, n = strlen(root);

	if (n >= sizeof(path)) {
		snprintf(err, errlen, "state root %s: %s", root, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	memcpy(path, root, n + 1);
	for (i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i])
			continue;
		path[i] = '\0';
		if (mkdir(path, mode) && errno != EEXIST) {
			snprintf(err, errlen, "state root %s: mkdir %s: %s", root, path,
				 strerror(errno));
			return -errno;
		}
		path[i] = root[i];
	}
	return 0;
}

/* Open and flock the lock file; a file unlinked meanwhile (a delete won) is -ENOENT. */
static int take_lock(const char *path, int flags, int *lockfd)
{
	struct stat st;
	int fd = open(path, flags | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX)) {
		if (errno != EINTR) {
			int ret = -errno;

			close(fd);
			return ret;
		}
	}
	if (fstat(fd, &st) || st.st_nlink == 0) {
		close(fd);
		return -ENOENT;
	}
	*lockfd = fd;
	return 0;
}

int ctr_state_create(const char *root, const char *id, int *lockfd, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int ret;

	ret = ctr_id_check(id, err, errlen);
	if (ret)
		return ret;
	ret = make_root(root, 0711, err, errlen) ?:
	      state_path(path, sizeof(path), root, id, NULL, err, errlen);
	if (ret)
		return ret;
	if (mkdir(path, 0700)) {
		ret = -errno;
		if (ret == -EEXIST)
			snprintf(err, errlen, "container with id exists: %s", id);
		else
			snprintf(err, errlen, "state directory %s: %s", path, strerror(-ret));
		return ret;
	}
	ret = state_path(path, sizeof(path), root, id, CTR_LOCK_FILE, err, errlen);
	if (ret)
		return ret;
	ret = take_lock(path, O_CREAT | O_EXCL, lockfd);
	if (ret)
		snprintf(err, errlen, "lock %s: %s", path, strerror(-ret));
	return ret;
}

int ctr_state_lock(const char *root, const char *id, int *lockfd, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int ret;

	ret = ctr_id_check(id, err, errlen) ?:
	      state_path(path, sizeof(path), root, id, CTR_LOCK_FILE, err, errlen);
	if (ret)
		return ret;
	ret = take_lock(path, 0, lockfd);
	if (ret == -ENOENT || ret == -ENOTDIR)
		return no_such(id, err, errlen);
	if (ret)
		snprintf(err, errlen, "lock %s: %s", path, strerror(-ret));
	return ret;
}

void ctr_state_unlock(int lockfd)
{
	if (lockfd >= 0)
		close(lockfd); /* closing the last descriptor drops the flock */
}

/* A string member that may be unset: "" then (json-c takes no NULL). */
static struct json_object *str_or_empty(const char *s)
{
	return json_object_new_string(s ? s : "");
}

struct json_object *ctr_state_json(const struct ctr_state *s)
{
	struct json_object *o = json_object_new_object();
	bool stopped = s->status == CTR_STOPPED;

	if (!o)
		return NULL;
	if (json_object_object_add(o, "ociVersion", str_or_empty(s->oci_version)) ||
	    json_object_object_add(o, "id", str_or_empty(s->id)) ||
	    json_object_object_add(o, "pid", json_object_new_int(stopped ? 0 : s->pid)) ||
	    json_object_object_add(o, "status",
				   json_object_new_string(ctr_status_name(s->status))) ||
	    json_object_object_add(o, "bundle", str_or_empty(s->bundle)) ||
	    json_object_object_add(o, "rootfs", str_or_empty(s->rootfs)) ||
	    json_object_object_add(o, "created", str_or_empty(s->created)) ||
	    (s->annotations &&
	     json_object_object_add(o, "annotations", json_object_get(s->annotations))) ||
	    json_object_object_add(o, "owner", str_or_empty(s->owner))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* state.json: runc's fields (pid as stored), then "hull": {control, pidStart, resources}. */
static struct json_object *state_file_json(const struct ctr_state *s)
{
	struct json_object *o = ctr_state_json(s), *h = json_object_new_object();

	if (!o || !h)
		goto fail;
	/* The file keeps the VMM's pid even when stopped: the state verb shows 0. */
	if (json_object_object_add(o, "pid", json_object_new_int(s->pid)) ||
	    (s->control &&
	     json_object_object_add(h, "control", json_object_new_string(s->control))) ||
	    json_object_object_add(h, "pidStart", json_object_new_uint64(s->pid_start)) ||
	    (s->resources &&
	     json_object_object_add(h, "resources", json_object_get(s->resources))))
		goto fail;
	if (json_object_object_add(o, "hull", h)) {
		h = NULL;
		goto fail;
	}
	return o;
fail:
	json_object_put(h);
	json_object_put(o);
	return NULL;
}

/* All of buf to fd. */
static int write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int ctr_state_write(const char *root, const struct ctr_state *s, char *err, size_t errlen)
{
	char tmp[PATH_MAX], path[PATH_MAX], dir[PATH_MAX];
	struct json_object *o;
	const char *text;
	int fd = -1, dfd, ret;

	ret = state_path(tmp, sizeof(tmp), root, s->id, CTR_STATE_TMP, err, errlen) ?:
	      state_path(path, sizeof(path), root, s->id, CTR_STATE_FILE, err, errlen) ?:
	      state_path(dir, sizeof(dir), root, s->id, NULL, err, errlen);
	if (ret)
		return ret;
	o = state_file_json(s);
	text = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							JSON_C_TO_STRING_NOSLASHESCAPE)
		 : NULL;
	if (!text) {
		ret = -ENOMEM;
		snprintf(err, errlen, "state of container %s: %s", s->id, strerror(ENOMEM));
		goto out;
	}
	/* The lock is held: nobody else writes the temporary file. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = write_all(fd, text, strlen(text)) ?: write_all(fd, "\n", 1);
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret) {
		unlink(tmp);
		goto fail;
	}
	/* The rename itself is on disk once the directory is. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	goto out;
fail:
	snprintf(err, errlen, "state %s: %s", path, strerror(-ret));
out:
	json_object_put(o);
	return ret;
}

void ctr_state_free(struct ctr_state *s)
{
	free(s->oci_version);
	free(s->id);
	free(s->bundle);
	free(s->rootfs);
	free(s->owner);
	free(s->control);
	json_object_put(s->annotations);
	json_object_put(s->resources);
	*s = (struct ctr_state){ 0 };
}

/* A required string member of o. */
static int req_str(struct oci_ctx *c, struct json_object *o, const char *key, char **out)
{
	struct json_object *v = oci_get(o, key);

	if (!v)
		return oci_fail(c, -EINVAL, "%s: missing", key);
	return oci_str(c, v, key, out);
}

static int parse_state(struct oci_ctx *c, struct json_object *root, const char *id,
		       struct ctr_state *s)
{
	struct json_object *v, *h;
	struct json_object_iterator it, end;
	char *str = NULL;
	int64_t pid;
	int ret;

	if ((ret = oci_object(c, root, "state")))
		return ret;
	ret = req_str(c, root, "ociVersion", &s->oci_version) ?:
	      req_str(c, root, "id", &s->id) ?: req_str(c, root, "bundle", &s->bundle) ?:
	      req_str(c, root, "rootfs", &s->rootfs) ?: req_str(c, root, "owner", &s->owner);
	if (ret)
		return ret;
	if (strcmp(s->id, id))
		return oci_fail(c, -EINVAL, "id: '%.64s' is not the directory's", s->id);
	if (!(v = oci_get(root, "pid")))
		return oci_fail(c, -EINVAL, "pid: missing");
	if ((ret = oci_i64(c, v, "pid", 0, INT_MAX, &pid)))
		return ret;
	s->pid = (int)pid;
	if ((ret = req_str(c, root, "status", &str)))
		return ret;
	ret = ctr_status_parse(str, &s->status);
	if (ret)
		oci_fail(c, ret, "status: '%.32s' is none of runc's", str);
	free(str);
	str = NULL;
	if (ret)
		return ret;
	if ((ret = req_str(c, root, "created", &str)))
		return ret;
	if (!time_ok(str) || strlen(str) >= sizeof(s->created)) {
		ret = oci_fail(c, -EINVAL, "created: '%.48s' is no RFC 3339 time", str);
		free(str);
		return ret;
	}
	strcpy(s->created, str);
	free(str);
	if ((v = oci_get(root, "annotations"))) {
		if ((ret = oci_object(c, v, "annotations")))
			return ret;
		it = json_object_iter_begin(v);
		end = json_object_iter_end(v);
		for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
			if (!json_object_is_type(json_object_iter_peek_value(&it), json_type_string))
				return oci_fail(c, -EINVAL, "annotations.%.64s: expected a string",
						json_object_iter_peek_name(&it));
		s->annotations = json_object_get(v);
	}
	if (!(h = oci_get(root, "hull")))
		return oci_fail(c, -EINVAL, "hull: missing");
	if ((ret = oci_object(c, h, "hull")))
		return ret;
	if ((v = oci_get(h, "control")) && (ret = oci_str(c, v, "hull.control", &s->control)))
		return ret;
	if ((v = oci_get(h, "resources"))) {
		if ((ret = oci_object(c, v, "hull.resources")))
			return ret;
		s->resources = json_object_get(v);
	}
	if (!(v = oci_get(h, "pidStart")))
		return oci_fail(c, -EINVAL, "hull.pidStart: missing");
	return oci_u64(c, v, "hull.pidStart", &s->pid_start);
}

int ctr_state_parse(const char *text, size_t len, const char *id, struct ctr_state *s,
		    char *err, size_t errlen)
{
	struct oci_ctx c = { .err = err, .errlen = errlen };
	struct json_object *o = NULL;
	int ret;

	*s = (struct ctr_state){ 0 };
	ret = json_parse_strict(text, len, CTR_STATE_MAX, &o, err, errlen);
	if (!ret)
		ret = parse_state(&c, o, id, s);
	/* A corrupt file is not a missing container. */
	if (ret == -ENOENT)
		ret = -EINVAL;
	json_object_put(o);
	return ret;
}

int ctr_state_read(const char *root, const char *id, struct ctr_state *s, char *err,
		   size_t errlen)
{
	char path[PATH_MAX], why[256];
	uint8_t *text = NULL;
	size_t len;
	int ret;

	*s = (struct ctr_state){ 0 };
	ret = ctr_id_check(id, err, errlen) ?:
	      state_path(path, sizeof(path), root, id, CTR_STATE_FILE, err, errlen);
	if (ret)
		return ret;
	ret = file_read_all(path, CTR_STATE_MAX, &text, &len);
	if (ret == -ENOENT || ret == -ENOTDIR)
		return no_such(id, err, errlen);
	if (ret) {
		snprintf(err, errlen, "state of container %s: %s: %s", id, path,
			 file_strerror(ret));
		return ret;
	}
	ret = ctr_state_parse((const char *)text, len, id, s, why, sizeof(why));
	if (ret)
		snprintf(err, errlen, "state of container %s (%s): %s", id, path, why);
	free(text);
	return ret;
}

bool ctr_state_refresh(struct ctr_state *s)
{
	uint64_t start;

	if (s->status == CTR_STOPPED)
		return false;
	/* "creating": create has not written its VMM yet; it holds the lock meanwhile. */
	if (s->status == CTR_CREATING && s->pid == 0)
		return false;
	if (s->pid > 0 && !ctr_proc_start(s->pid, &start) && start == s->pid_start)
		return false;
	s->status = CTR_STOPPED;
	return true;
}

int ctr_state_remove(const char *root, const char *id, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int ret, dfd;

	ret = ctr_id_check(id, err, errlen) ?:
	      state_path(path, sizeof(path), root, id, NULL, err, errlen);
	if (ret)
		return ret;
	d = opendir(path);
	if (!d) {
		ret = -errno;
		if (ret == -ENOENT)
			return no_such(id, err, errlen);
		snprintf(err, errlen, "state directory %s: %s", path, strerror(-ret));
		return ret;
	}
	dfd = dirfd(d);
	/* The lock file goes last: a waiter then sees it unlinked and gives up. */
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    strcmp(e->d_name, CTR_LOCK_FILE) && unlinkat(dfd, e->d_name, 0) && !ret)
			ret = -errno;
	if (!ret && unlinkat(dfd, CTR_LOCK_FILE, 0) && errno != ENOENT)
		ret = -errno;
	closedir(d);
	if (!ret && rmdir(path))
		ret = -errno;
	if (ret)
		snprintf(err, errlen, "state directory %s: %s", path, strerror(-ret));
	return ret;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ctr_state_list(const char *root, char ***ids, unsigned int *n, char *err, size_t errlen)
{
	char **v = NULL, **nv, why[8];
	unsigned int cap = 0;
	struct dirent *e;
	struct stat st;
	DIR *d;
	int ret = 0;

	*ids = NULL;
	*n = 0;
	d = opendir(root);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		ret = -errno;
		snprintf(err, errlen, "state root %s: %s", root, strerror(-ret));
		return ret;
	}
	while ((e = readdir(d))) {
		if (ctr_id_check(e->d_name, why, sizeof(why)) ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISDIR(st.st_mode))
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				goto nomem;
			v = nv;
		}
		if (!(v[*n] = strdup(e->d_name)))
			goto nomem;
		++*n;
	}
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_str);
	*ids = v;
	return 0;
nomem:
	closedir(d);
	ctr_strv_free(v, *n);
	*n = 0;
	snprintf(err, errlen, "state root %s: %s", root, strerror(ENOMEM));
	return -ENOMEM;
}
