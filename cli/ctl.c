/* ctl: `hull ctl PATH COMMAND` — one request to a running VM's control socket, its reply printed. */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <json.h>

#include "lib/log.h"
#include "lib/parse.h"
#include "lib/usock.h"
#include "vmm/ctlproto.h"

#define CTL_REPLY_MAX (1 << 20) /* longer than any reply hull sends */
#define CTL_TIMEOUT_S 30        /* a VM's loop answers at once; a dead peer must not hang us */

static const char usage_ctl[] =
	"usage: hull ctl PATH state|pause|resume|stop|balloon [SIZE]\n"
	"       hull ctl PATH memory SIZE\n"
	"       hull ctl PATH update [--cpu-affinity LIST] [--cpu-quota N] [--cpu-period N]\n"
	"                            [--cpu-shares N] [--memory SIZE] [--pids-limit N]\n"
	"\n"
	"Send one command to the control socket PATH of a running 'hull vm --api-sock PATH'\n"
	"and print its reply (one JSON object) on stdout:\n"
	"  state    running or paused, vCPUs and their thread ids, memory, devices, uptime\n"
	"  pause    stop every vCPU (the guest's clock goes on)\n"
	"  resume   let them run again\n"
	"  stop     tear the VM down; hull exits 0\n"
	"  balloon  the balloon's target, what the guest gave (actual), the bytes\n"
	"           given back to the host and the guest's memory statistics;\n"
	"           with SIZE (bytes or K/M/G suffix, a multiple of 4K, at most\n"
	"           the guest's RAM) set the target first (needs --balloon on)\n"
	"  memory   ask the guest to have SIZE (bytes or K/M/G/T suffix) in all: its --memory\n"
	"           and 128M blocks of the --max-memory region, which it plugs or unplugs\n"
	"           (a guest that cannot free blocks keeps them: state's \"hotplug\" says)\n"
	"  update   change hull's limits live: --cpu-affinity re-pins the vCPUs\n"
	"           (vCPU i on the i-th CPU of LIST, hull's other threads on all of it);\n"
	"           with --max-memory, --memory is the guest's size: what is above its RAM\n"
	"           is plugged or unplugged in 128M blocks (as 'memory' does, rounded up);\n"
	"           with 'hull vm --cgroup', the cgroup's cpu.max (quota and period in us,\n"
	"           -1: no quota), cpu.weight (from runc's shares), memory.max (the guest\n"
	"           memory hull may hold plus hull's overhead; lowered once an unplug is\n"
	"           done; -1: none) and pids.max (-1: none). Every limit is checked before\n"
	"           any is written; one refused sets back those written before it\n"
	"Exit status: 0; 1 for an error reply or when PATH cannot be reached; 2 for bad usage.\n";

/* Connect with a timeout on each send and receive: the fd, or -errno (logged). */
static int dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = CTL_TIMEOUT_S };
	int fd, ret;

	if (strlen(path) > USOCK_PATH_MAX) {
		log_msg("ctl %s: path too long (at most %zu bytes)", path, USOCK_PATH_MAX);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		log_msg("ctl %s: socket: %s", path, strerror(-ret));
		return ret;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa))) {
		ret = -errno;
		log_msg("ctl %s: connect: %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	return fd;
}

int ctl_send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read up to the first newline into buf (NUL-terminated, newline removed): its length or -errno. */
static ssize_t recv_line(int fd, char *buf, size_t size)
{
	size_t len = 0;
	char *nl;

	for (;;) {
		ssize_t n = recv(fd, buf + len, size - 1 - len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		len += (size_t)n;
		buf[len] = '\0';
		nl = memchr(buf, '\n', len);
		if (nl) {
			*nl = '\0';
			return nl - buf;
		}
		if (len == size - 1)
			return -EMSGSIZE;
	}
}

/* member key of o, made when missing. */
static struct json_object *sub(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, key, &v))
		return v;
	v = json_object_new_object();
	json_object_object_add(o, key, v);
	return v;
}

/* update's flags as an OCI linux.resources object's JSON text (malloc'd): 0, or 2 (logged). */
static int update_json(int argc, char **argv, char **out)
{
	struct json_object *res = json_object_new_object(), *v;
	const char *flag, *arg, *text;
	uint64_t u;
	int i, ret = 2;

	if (!res) {
		log_msg("ctl: %s", strerror(ENOMEM));
		return 1;
	}
	for (i = 0; i < argc; i += 2) {
		flag = argv[i];
		arg = i + 1 < argc ? argv[i + 1] : NULL;
		if (!arg) {
			log_msg("ctl: update %s: needs a value", flag);
			goto out;
		}
		if (!strcmp(flag, "--cpu-affinity")) {
			v = json_object_new_string(arg);
			json_object_object_add(sub(res, "cpu"), "cpus", v);
			continue;
		}
		if (!strcmp(arg, "-1") && (!strcmp(flag, "--cpu-quota") || !strcmp(flag, "--memory") ||
					   !strcmp(flag, "--pids-limit"))) {
			v = json_object_new_int64(-1);
		} else if (!strcmp(flag, "--memory") ? parse_size(arg, &u) || !u || u > INT64_MAX
			   : parse_uint(arg, 1, INT64_MAX, &u)) {
			log_msg("ctl: update %s '%s': not a %s", flag, arg,
				!strcmp(flag, "--memory") ? "size (bytes or K/M/G/T suffix)"
							  : "number of 1 or more");
			goto out;
		} else {
			v = json_object_new_int64((int64_t)u);
		}
		if (!strcmp(flag, "--cpu-quota"))
			json_object_object_add(sub(res, "cpu"), "quota", v);
		else if (!strcmp(flag, "--cpu-period"))
			json_object_object_add(sub(res, "cpu"), "period", v);
		else if (!strcmp(flag, "--cpu-shares"))
			json_object_object_add(sub(res, "cpu"), "shares", v);
		else if (!strcmp(flag, "--memory"))
			json_object_object_add(sub(res, "memory"), "limit", v);
		else if (!strcmp(flag, "--pids-limit"))
			json_object_object_add(sub(res, "pids"), "limit", v);
		else {
			json_object_put(v);
			log_msg("ctl: update: unknown flag '%s' (see 'hull ctl --help')", flag);
			goto out;
		}
	}
	if (!argc) {
		log_msg("ctl: update: nothing to change (see 'hull ctl --help')");
		goto out;
	}
	text = json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN);
	*out = text ? strdup(text) : NULL;
	ret = *out ? 0 : 1;
	if (ret)
		log_msg("ctl: %s", strerror(ENOMEM));
out:
	json_object_put(res);
	return ret;
}

int ctl_main(int argc, char **argv)
{
	char *line = NULL, why[512], *rep = NULL;
	struct ctl_request req = { 0 };
	const char *path;
	ssize_t len;
	int fd, n, ret, status = 1;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(usage_ctl, stdout);
		return 0;
	}
	if (argc < 3) {
		log_msg("ctl: expected a socket path and a command (see 'hull ctl --help')");
		return 2;
	}
	path = argv[1];
	if (ctl_cmd_from_name(argv[2], &req.cmd)) {
		log_msg("ctl: unknown command '%s' (state, pause, resume, stop, balloon, memory, "
			"update)", argv[2]);
		return 2;
	}
	if (req.cmd == CTL_UPDATE) {
		ret = update_json(argc - 3, argv + 3, &req.resources);
		if (ret)
			return ret;
	} else if (req.cmd == CTL_MEMORY) {
		if (argc != 4) {
			log_msg("ctl: memory needs a size (like 1536M)");
			return 2;
		}
		if (parse_size(argv[3], &req.size)) {
			log_msg("ctl: memory '%s': not a size (bytes or K/M/G/T suffix)", argv[3]);
			return 2;
		}
	} else if (argc > 4) {
		log_msg("ctl: %s: too many arguments", argv[2]);
		return 2;
	} else if (argc == 4) {
		if (req.cmd != CTL_BALLOON) {
			log_msg("ctl: %s takes no argument", argv[2]);
			return 2;
		}
		if (parse_size(argv[3], &req.target)) {
			log_msg("ctl: balloon '%s': not a size (bytes or K/M/G/T suffix)", argv[3]);
			return 2;
		}
		req.has_target = true;
	}
	line = malloc(CTL_LINE_MAX);
	n = line ? ctl_encode_request(&req, line, CTL_LINE_MAX) : -ENOMEM;
	if (n < 0)
		log_msg("ctl %s: %s", path, n == -ENOMEM ? strerror(ENOMEM) : "request too long");
	fd = n < 0 ? -1 : dial(path);
	if (fd < 0 || n < 0)
		goto out;
	rep = malloc(CTL_REPLY_MAX);
	if (!rep) {
		log_msg("ctl %s: %s", path, strerror(ENOMEM));
		goto out;
	}
	ret = ctl_send_all(fd, line, (size_t)n);
	len = ret ? ret : recv_line(fd, rep, CTL_REPLY_MAX);
	if (len < 0) {
		log_msg("ctl %s: %s: %s", path, ret ? "send" : "no reply",
			len == -ECONNRESET ? "connection closed" : strerror((int)-len));
		goto out;
	}
	printf("%s\n", rep);
	fflush(stdout);
	ret = ctl_parse_reply(rep, (size_t)len, why, sizeof(why));
	if (ret < 0)
		log_msg("ctl %s: not a reply: %s", path, why);
	status = ret ? 1 : 0;
out:
	free(rep);
	free(line);
	ctl_request_free(&req);
	if (fd >= 0)
		close(fd);
	return status;
}
