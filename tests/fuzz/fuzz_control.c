/* libFuzzer target: bytes from a control-socket client — the line reader, request parser, server. */
#include <errno.h>
#include <json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "container/limits.h"
#include "container/oci.h"
#include "lib/cpuset.h"
#include "vmm/control.h"
#include "vmm/ctlproto.h"

/*
 * Input: byte 0 picks the size of the pieces the rest arrives in (1..256 bytes), byte 1 bit 0
 * whether the client half-closes at the end, bit 1 whether it reads its replies. The rest is
 * what a client sends, cut into those pieces:
 *  - through a ctl_reader and ctl_parse_request, directly: every line either parses to a
 *    command whose fields are whole (the container commands' too) or is refused with a reason; every reply made for it is one line that
 *    ctl_parse_reply reads back (an error reply carries the exact message);
 *  - to the server over a socket pair, with the loop run after each piece: it never blocks,
 *    and whatever the client did, it is closed once the client closes.
 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct loop loop;
static struct control *ctl;
static unsigned int stops;

static char *fake_state(void *opaque, size_t *len)
{
	static const struct ctl_vcpu vcpus[] = { { 0, 100 }, { 1, 101 } };
	static const struct ctl_dev devs[] = { { "blk0", "blk", 0xfe001000, 5 } };
	struct ctl_state s = { .vcpus = vcpus, .nvcpus = 2, .memory = 1 << 29, .devs = devs,
			       .ndevs = 1, .uptime_ms = 7 };

	(void)opaque;
	return ctl_reply_state(&s, len);
}

static int fake_pause(void *opaque)
{
	(void)opaque;
	return 0;
}

static int fake_resume(void *opaque)
{
	(void)opaque;
	return -ESHUTDOWN;
}

static void fake_stop(void *opaque)
{
	(void)opaque;
	stops++;
}

/* A balloon reply with the target asked for; an error reply for one that is no 4 KiB multiple. */
static char *fake_balloon(void *opaque, const struct ctl_request *req, size_t *len)
{
	static const struct ctl_stat stats[] = { { "free_memory", 1 << 20 } };
	struct ctl_balloon b = { .target = req->target, .stats = stats, .nstats = 1 };

	(void)opaque;
	if (req->cmd != CTL_BALLOON || (!req->has_target && req->target))
		abort();
	if (req->has_target && req->target % 4096)
		return ctl_reply_error("balloon: target is not a multiple of 4 KiB", len);
	return ctl_reply_balloon(&b, len);
}

/*
 * An update's resources as the VMM takes them: read (ctr_oci_resources) and planned against a
 * running VM (ctr_limits_update); whatever the text, either refused with a reason or planned
 * with both sides of each level naming the same limits.
 */
static void check_update(const char *json)
{
	struct ctr_vm_now v = { .vcpus = 2, .max_vcpus = 2, .mem = 256 << 20 };
	struct ctr_resources cur = { .mem_max = 128 << 20, .has_mem_max = true,
				     .cpuset_cpus = (char[]){ "1" } }, upd;
	struct ctr_update u;
	char err[512];
	unsigned int i;

	cpuset_parse("0-3", &v.host_cpus);
	err[0] = '\0';
	if (ctr_oci_resources(json, strlen(json), &upd, err, sizeof(err))) {
		if (!err[0])
			abort();
		return;
	}
	err[0] = '\0';
	if (ctr_limits_update(&cur, &upd, &v, &u, err, sizeof(err))) {
		if (!err[0])
			abort();
	} else {
		for (i = 0; i < 2; i++)
			if (u.host[0].has_cpu_quota != u.host[1].has_cpu_quota ||
			    u.guest[0].has_pids_max != u.guest[1].has_pids_max ||
			    u.guest[0].has_mem_max != u.guest[1].has_mem_max ||
			    (u.want.has_mem_max && u.want.mem_max != UINT64_MAX &&
			     u.want.mem_max > v.mem))
				abort();
		ctr_update_free(&u);
	}
	ctr_resources_free(&upd);
}

/*
 * A container command's request is whole: kill's signal in range, exec's process an object,
 * update's resources an object (then planned, check_update).
 */
static void check_mode(const struct ctl_request *req)
{
	if (req->cmd == CTL_KILL && (req->signal < 1 || req->signal > CTL_SIGNAL_MAX))
		abort();
	if ((req->cmd == CTL_EXEC) != (req->process != NULL))
		abort();
	if (req->process && req->process[0] != '{')
		abort();
	if ((req->cmd == CTL_UPDATE) != (req->resources != NULL))
		abort();
	if (req->resources) {
		if (req->resources[0] != '{')
			abort();
		check_update(req->resources);
	}
	if (req->cmd != CTL_KILL && (req->signal || req->all))
		abort();
}

/* The container commands: every descriptor that came is left to the server to close. */
static int fake_mode(void *opaque, const struct ctl_request *req, int client_fd, int *fds,
		     unsigned int nfds, char **line, size_t *len)
{
	(void)opaque;
	(void)client_fd;
	(void)fds;
	if (nfds > CTL_FDS_MAX)
		abort();
	check_mode(req);
	*line = ctl_reply_ok(len);
	return 0;
}

/* memory: ok for a size that is whole MiB, an error reply for any other. */
static char *fake_memory(void *opaque, const struct ctl_request *req, size_t *len)
{
	(void)opaque;
	if (req->cmd != CTL_MEMORY)
		abort();
	if (req->size % (1 << 20))
		return ctl_reply_error("memory: not whole MiB", len);
	return ctl_reply_ok(len);
}

static const struct control_ops ops = { fake_state, fake_pause, fake_resume, fake_stop,
					fake_balloon, fake_mode, fake_memory };

/* A reply line must be exactly one line that reads back as a reply. */
static void check_reply(char *line, size_t len, int want)
{
	char why[256];

	if (!line)
		abort();
	if (len < 2 || line[len - 1] != '\n' || memchr(line, '\n', len - 1) || strlen(line) != len)
		abort();
	if (ctl_parse_reply(line, len - 1, why, sizeof(why)) != want)
		abort();
	free(line);
}

static void parse_lines(const uint8_t *data, size_t size, size_t piece)
{
	static struct ctl_reader r;
	const char *line;
	char why[200], msg[300], *rep;
	struct ctl_request req;
	size_t off = 0, n, room, len;
	char *at;
	int ret;

	ctl_reader_init(&r);
	while (off < size) {
		at = ctl_reader_room(&r, &room);
		n = size - off < piece ? size - off : piece;
		n = n < room ? n : room;
		memcpy(at, data + off, n);
		ctl_reader_commit(&r, n);
		off += n;
		while ((ret = ctl_reader_line(&r, &line, &len)) == 1) {
			why[0] = '\0';
			if (ctl_parse_request(line, len, &req, why, sizeof(why)) == 0) {
				if ((unsigned int)req.cmd >= CTL_NCMDS ||
				    (req.has_target && req.cmd != CTL_BALLOON) ||
				    (req.size && req.cmd != CTL_MEMORY))
					abort();
				check_mode(&req);
				if (req.cmd == CTL_BALLOON) {
					rep = fake_balloon(NULL, &req, &len);
					check_reply(rep, len, req.has_target && req.target % 4096);
					continue;
				}
				if (req.cmd == CTL_MEMORY) {
					rep = fake_memory(NULL, &req, &len);
					check_reply(rep, len, req.size % (1 << 20) != 0);
					continue;
				}
				ctl_request_free(&req);
				rep = req.cmd == CTL_STATE ? fake_state(NULL, &len) : ctl_reply_ok(&len);
				check_reply(rep, len, 0);
				continue;
			}
			if (!why[0] || !memchr(why, '\0', sizeof(why)))
				abort();
			/* The reason goes back to the client inside an error reply. */
			rep = ctl_reply_error(why, &len);
			check_reply(rep, len, 1);
			snprintf(msg, sizeof(msg), "bad request: %s", why);
			rep = ctl_reply_error(msg, &len);
			check_reply(rep, len, 1);
		}
		if (ret == -EMSGSIZE)
			ctl_reader_init(&r); /* the server hangs up here */
		else if (ret)
			abort();
	}
}

static void pump(int fd, bool reads)
{
	char buf[4096];

	while (loop_run_once(&loop, 0) > 0)
		while (reads && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
}

static void serve(const uint8_t *data, size_t size, size_t piece, bool half_close, bool reads)
{
	int sv[2], small = 8192, i;
	size_t off = 0, n;
	ssize_t w;

	if (!ctl) {
		if (loop_init(&loop) || control_open(&loop, NULL, &ops, NULL, &ctl))
			abort();
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	/* Small buffers: a client that does not read fills hull's reply buffer quickly. */
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	if (control_adopt(ctl, sv[1]))
		abort();
	while (off < size && control_clients(ctl)) {
		n = size - off < piece ? size - off : piece;
		w = send(sv[0], data + off, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && errno != EAGAIN)
			break;
		pump(sv[0], reads);
	}
	if (half_close) {
		shutdown(sv[0], SHUT_WR);
		pump(sv[0], true);
	}
	close(sv[0]);
	pump(-1, false);
	/*
	 * Requests past CONTROL_REQS_PER_PASS wait for a later pass on a timer, which a pass that
	 * does not wait (pump) can miss on a busy host: passes that wait, a second at most.
	 */
	for (i = 0; i < 100 && control_clients(ctl); i++)
		loop_run_once(&loop, 10);
	/* Whatever it sent, a client that is gone is forgotten. */
	if (control_clients(ctl))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t piece;

	if (size < 2)
		return 0;
	piece = (size_t)data[0] + 1;
	parse_lines(data + 2, size - 2, piece);
	serve(data + 2, size - 2, piece, data[1] & 1, data[1] & 2);
	return 0;
}
