/* runtime: hull as an OCI runtime — the verbs that need no VM; plain refusals for the rest. */
#include "cli/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <limits.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "container/hooks.h"
#include "container/oci.h"
#include "container/seccomp.h"
#include "container/state.h"
#include "lib/file.h"
#include "lib/log.h"

#define DELETE_WAIT_MS 10000 /* delete --force: how long the killed VMM may take to go */

static const char default_spec[] =
	"{\n"
	"\t\"ociVersion\": \"" RT_SPEC_VERSION "\",\n"
	"\t\"process\": {\n"
	"\t\t\"terminal\": true,\n"
	"\t\t\"user\": {\n\t\t\t\"uid\": 0,\n\t\t\t\"gid\": 0\n\t\t},\n"
	"\t\t\"args\": [\n\t\t\t\"sh\"\n\t\t],\n"
	"\t\t\"env\": [\n"
	"\t\t\t\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\n"
	"\t\t\t\"TERM=xterm\"\n"
	"\t\t],\n"
	"\t\t\"cwd\": \"/\",\n"
	"\t\t\"capabilities\": {\n"
	"\t\t\t\"bounding\": [\n\t\t\t\t\"CAP_AUDIT_WRITE\",\n\t\t\t\t\"CAP_KILL\",\n"
	"\t\t\t\t\"CAP_NET_BIND_SERVICE\"\n\t\t\t],\n"
	"\t\t\t\"effective\": [\n\t\t\t\t\"CAP_AUDIT_WRITE\",\n\t\t\t\t\"CAP_KILL\",\n"
	"\t\t\t\t\"CAP_NET_BIND_SERVICE\"\n\t\t\t],\n"
	"\t\t\t\"permitted\": [\n\t\t\t\t\"CAP_AUDIT_WRITE\",\n\t\t\t\t\"CAP_KILL\",\n"
	"\t\t\t\t\"CAP_NET_BIND_SERVICE\"\n\t\t\t],\n"
	"\t\t\t\"ambient\": [\n\t\t\t\t\"CAP_AUDIT_WRITE\",\n\t\t\t\t\"CAP_KILL\",\n"
	"\t\t\t\t\"CAP_NET_BIND_SERVICE\"\n\t\t\t]\n"
	"\t\t},\n"
	"\t\t\"rlimits\": [\n"
	"\t\t\t{\n\t\t\t\t\"type\": \"RLIMIT_NOFILE\",\n\t\t\t\t\"hard\": 1024,\n"
	"\t\t\t\t\"soft\": 1024\n\t\t\t}\n"
	"\t\t],\n"
	"\t\t\"noNewPrivileges\": true\n"
	"\t},\n"
	"\t\"root\": {\n\t\t\"path\": \"rootfs\",\n\t\t\"readonly\": true\n\t},\n"
	"\t\"hostname\": \"hull\",\n"
	"\t\"mounts\": [\n"
	"\t\t{\n\t\t\t\"destination\": \"/proc\",\n\t\t\t\"type\": \"proc\",\n"
	"\t\t\t\"source\": \"proc\"\n\t\t},\n"
	"\t\t{\n\t\t\t\"destination\": \"/dev\",\n\t\t\t\"type\": \"tmpfs\",\n"
	"\t\t\t\"source\": \"tmpfs\",\n\t\t\t\"options\": [\n\t\t\t\t\"nosuid\",\n"
	"\t\t\t\t\"strictatime\",\n\t\t\t\t\"mode=755\",\n\t\t\t\t\"size=65536k\"\n"
	"\t\t\t]\n\t\t},\n"
	"\t\t{\n\t\t\t\"destination\": \"/dev/pts\",\n\t\t\t\"type\": \"devpts\",\n"
	"\t\t\t\"source\": \"devpts\",\n\t\t\t\"options\": [\n\t\t\t\t\"nosuid\",\n"
	"\t\t\t\t\"noexec\",\n\t\t\t\t\"newinstance\",\n\t\t\t\t\"ptmxmode=0666\",\n"
	"\t\t\t\t\"mode=0620\",\n\t\t\t\t\"gid=5\"\n\t\t\t]\n\t\t},\n"
	"\t\t{\n\t\t\t\"destination\": \"/dev/shm\",\n\t\t\t\"type\": \"tmpfs\",\n"
	"\t\t\t\"source\": \"shm\",\n\t\t\t\"options\": [\n\t\t\t\t\"nosuid\",\n"
	"\t\t\t\t\"noexec\",\n\t\t\t\t\"nodev\",\n\t\t\t\t\"mode=1777\",\n"
	"\t\t\t\t\"size=65536k\"\n\t\t\t]\n\t\t},\n"
	"\t\t{\n\t\t\t\"destination\": \"/dev/mqueue\",\n\t\t\t\"type\": \"mqueue\",\n"
	"\t\t\t\"source\": \"mqueue\",\n\t\t\t\"options\": [\n\t\t\t\t\"nosuid\",\n"
	"\t\t\t\t\"noexec\",\n\t\t\t\t\"nodev\"\n\t\t\t]\n\t\t},\n"
	"\t\t{\n\t\t\t\"destination\": \"/sys\",\n\t\t\t\"type\": \"sysfs\",\n"
	"\t\t\t\"source\": \"sysfs\",\n\t\t\t\"options\": [\n\t\t\t\t\"nosuid\",\n"
	"\t\t\t\t\"noexec\",\n\t\t\t\t\"nodev\",\n\t\t\t\t\"ro\"\n\t\t\t]\n\t\t},\n"
	"\t\t{\n\t\t\t\"destination\": \"/sys/fs/cgroup\",\n\t\t\t\"type\": \"cgroup\",\n"
	"\t\t\t\"source\": \"cgroup\",\n\t\t\t\"options\": [\n\t\t\t\t\"nosuid\",\n"
	"\t\t\t\t\"noexec\",\n\t\t\t\t\"nodev\",\n\t\t\t\t\"relatime\",\n\t\t\t\t\"ro\"\n"
	"\t\t\t]\n\t\t}\n"
	"\t],\n"
	"\t\"linux\": {\n"
	"\t\t\"resources\": {\n\t\t\t\"devices\": [\n\t\t\t\t{\n\t\t\t\t\t\"allow\": false,\n"
	"\t\t\t\t\t\"access\": \"rwm\"\n\t\t\t\t}\n\t\t\t]\n\t\t},\n"
	"\t\t\"namespaces\": [\n\t\t\t{\n\t\t\t\t\"type\": \"pid\"\n\t\t\t},\n"
	"\t\t\t{\n\t\t\t\t\"type\": \"network\"\n\t\t\t},\n"
	"\t\t\t{\n\t\t\t\t\"type\": \"ipc\"\n\t\t\t},\n"
	"\t\t\t{\n\t\t\t\t\"type\": \"uts\"\n\t\t\t},\n"
	"\t\t\t{\n\t\t\t\t\"type\": \"mount\"\n\t\t\t},\n"
	"\t\t\t{\n\t\t\t\t\"type\": \"cgroup\"\n\t\t\t}\n\t\t],\n"
	"\t\t\"maskedPaths\": [\n\t\t\t\"/proc/acpi\",\n\t\t\t\"/proc/asound\",\n"
	"\t\t\t\"/proc/kcore\",\n\t\t\t\"/proc/keys\",\n\t\t\t\"/proc/latency_stats\",\n"
	"\t\t\t\"/proc/timer_list\",\n\t\t\t\"/proc/timer_stats\",\n"
	"\t\t\t\"/proc/sched_debug\",\n\t\t\t\"/sys/firmware\",\n\t\t\t\"/proc/scsi\"\n"
	"\t\t],\n"
	"\t\t\"readonlyPaths\": [\n\t\t\t\"/proc/bus\",\n\t\t\t\"/proc/fs\",\n"
	"\t\t\t\"/proc/irq\",\n\t\t\t\"/proc/sys\",\n\t\t\t\"/proc/sysrq-trigger\"\n\t\t]\n"
	"\t}\n"
	"}\n";

const char *rt_default_spec(void)
{
	return default_spec;
}

void rt_print_version(void)
{
	const struct scmp_version *sv = seccomp_version();

	printf("hull version %s\nspec: %s\n", HULL_VERSION, RT_SPEC_VERSION);
	if (sv)
		printf("libseccomp: %u.%u.%u\n", sv->major, sv->minor, sv->micro);
}

/* --- features ---------------------------------------------------------------------------- */

static struct json_object *strings(const char *const *v, unsigned int n)
{
	struct json_object *a = json_object_new_array();
	unsigned int i;

	for (i = 0; a && i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

static struct json_object *enabled(bool on)
{
	struct json_object *o = json_object_new_object();

	if (o)
		json_object_object_add(o, "enabled", json_object_new_boolean(on));
	return o;
}

char *rt_features_json(void)
{
	/* What config.json may say that hull honours (container/oci*.c read them). */
	static const char *const namespaces[] = { "cgroup", "ipc", "mount", "network", "pid",
						  "uts" };
	struct json_object *o = json_object_new_object(), *lx = json_object_new_object(),
			   *a, *cg, *ann;
	const struct scmp_version *sv = seccomp_version();
	const char *name;
	char ver[48], *text = NULL;
	int i;

	if (!o || !lx)
		goto out;
	json_object_object_add(o, "ociVersionMin", json_object_new_string("1.0.0"));
	json_object_object_add(o, "ociVersionMax", json_object_new_string("1.2.0"));
	/* The OCI hooks run (all on the host: see README's runtime section). */
	a = json_object_new_array();
	for (i = 0; a && (name = ctr_hook_name((enum ctr_hook_kind)i)); i++)
		json_object_array_add(a, json_object_new_string(name));
	json_object_object_add(o, "hooks", a);
	a = json_object_new_array();
	for (i = 0; a && (name = ctr_mount_option_name((unsigned int)i)); i++)
		json_object_array_add(a, json_object_new_string(name));
	json_object_object_add(o, "mountOptions", a);
	/* A VM for the container: the guest's namespaces; user namespaces are refused. */
	json_object_object_add(lx, "namespaces",
			       strings(namespaces, sizeof(namespaces) / sizeof(namespaces[0])));
	a = json_object_new_array();
	for (i = 0; a && (name = ctr_cap_name(i)); i++)
		json_object_array_add(a, json_object_new_string(name));
	json_object_object_add(lx, "capabilities", a);
	cg = json_object_new_object();
	if (cg) {
		/* The guest's is v2; hull's host cgroup (cgroupsPath) may be v1 or v2. */
		json_object_object_add(cg, "v1", json_object_new_boolean(true));
		json_object_object_add(cg, "v2", json_object_new_boolean(true));
		json_object_object_add(cg, "systemd", json_object_new_boolean(false));
		json_object_object_add(cg, "systemdUser", json_object_new_boolean(false));
	}
	json_object_object_add(lx, "cgroup", cg);
	/* linux.seccomp is compiled on the host and loaded by hull-init (container/seccomp.c). */
	json_object_object_add(lx, "seccomp", ctr_seccomp_features());
	json_object_object_add(lx, "apparmor", enabled(false));
	json_object_object_add(lx, "selinux", enabled(false));
	json_object_object_add(o, "linux", lx);
	lx = NULL;
	ann = json_object_new_object();
	if (ann) {
		if (sv) {
			snprintf(ver, sizeof(ver), "%u.%u.%u", sv->major, sv->minor, sv->micro);
			json_object_object_add(ann, "io.github.seccomp.libseccomp.version",
					       json_object_new_string(ver));
		}
		json_object_object_add(ann, "org.hull.version",
				       json_object_new_string(HULL_VERSION));
	}
	json_object_object_add(o, "annotations", ann);
	name = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							 JSON_C_TO_STRING_SPACED |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	text = name ? strdup(name) : NULL;
out:
	json_object_put(lx);
	json_object_put(o);
	return text;
}

/* --- the verbs --------------------------------------------------------------------------- */

static int print_json(struct json_object *o)
{
	const char *t = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								    JSON_C_TO_STRING_SPACED |
								    JSON_C_TO_STRING_NOSLASHESCAPE)
			  : NULL;

	if (!t) {
		log_msg("%s", strerror(ENOMEM));
		return 1;
	}
	printf("%s\n", t);
	return 0;
}

static int verb_state(const struct rt_cmd *c)
{
	struct ctr_state s;
	struct json_object *o;
	char err[512];
	int ret;

	/* state.json is replaced whole: no lock is needed to read it. */
	if (ctr_state_read(rt_root(c), c->id, &s, err, sizeof(err))) {
		ctr_state_free(&s);
		log_msg("%s", err);
		return 1;
	}
	rt_refresh(rt_root(c), &s);
	o = ctr_state_json(&s);
	ret = print_json(o);
	json_object_put(o);
	ctr_state_free(&s);
	return ret;
}

/* runc's table: ID PID STATUS BUNDLE CREATED OWNER, columns as wide as their widest cell. */
static void list_table(struct ctr_state *v, unsigned int n)
{
	int wid = 2, wbundle = 6, wstatus = 6;
	unsigned int i;

	for (i = 0; i < n; i++) {
		if ((int)strlen(v[i].id) > wid)
			wid = (int)strlen(v[i].id);
		if ((int)strlen(v[i].bundle) > wbundle)
			wbundle = (int)strlen(v[i].bundle);
		if ((int)strlen(ctr_status_name(v[i].status)) > wstatus)
			wstatus = (int)strlen(ctr_status_name(v[i].status));
	}
	printf("%-*s   %-10s %-*s   %-*s   %-30s   %s\n", wid, "ID", "PID", wstatus, "STATUS",
	       wbundle, "BUNDLE", "CREATED", "OWNER");
	for (i = 0; i < n; i++)
		printf("%-*s   %-10d %-*s   %-*s   %-30s   %s\n", wid, v[i].id,
		       v[i].status == CTR_STOPPED ? 0 : v[i].pid, wstatus,
		       ctr_status_name(v[i].status), wbundle, v[i].bundle, v[i].created,
		       v[i].owner);
}

static int verb_list(const struct rt_cmd *c)
{
	struct ctr_state *v = NULL;
	struct json_object *a = NULL;
	char err[512], **ids;
	unsigned int n, i, k = 0;
	int ret = 1;

	if (ctr_state_list(rt_root(c), &ids, &n, err, sizeof(err))) {
		log_msg("%s", err);
		return 1;
	}
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		log_msg("list: %s", strerror(ENOMEM));
		goto out;
	}
	for (i = 0; i < n; i++) {
		/* One broken container does not hide the others: named, then skipped. */
		if (ctr_state_read(rt_root(c), ids[i], &v[k], err, sizeof(err))) {
			ctr_state_free(&v[k]);
			log_msg("list: %s", err);
			continue;
		}
		rt_refresh(rt_root(c), &v[k++]);
	}
	if (c->quiet) {
		for (i = 0; i < k; i++)
			printf("%s\n", v[i].id);
		ret = 0;
	} else if (!strcmp(c->format, "json")) {
		a = json_object_new_array();
		for (i = 0; a && i < k; i++)
			json_object_array_add(a, ctr_state_json(&v[i]));
		ret = print_json(a);
	} else {
		list_table(v, k);
		ret = 0;
	}
out:
	for (i = 0; v && i < k; i++)
		ctr_state_free(&v[i]);
	free(v);
	json_object_put(a);
	ctr_strv_free(ids, n);
	return ret;
}

/* SIGKILL the VMM (pid and start time as state.json says) and wait, bounded, for it to go. */
static int kill_vmm(const struct ctr_state *s)
{
	struct timespec nap = { 0, 10 * 1000 * 1000 };
	uint64_t start;
	int ms;

	if (kill(s->pid, SIGKILL) && errno != ESRCH)
		return -errno;
	for (ms = 0; ms < DELETE_WAIT_MS; ms += 10) {
		if (ctr_proc_start(s->pid, &start) || start != s->pid_start)
			return 0;
		nanosleep(&nap, NULL);
	}
	return -ETIMEDOUT;
}

static int verb_delete(const struct rt_cmd *c)
{
	struct ctr_state s = { 0 };
	char err[512];
	int lockfd, ret;

	ret = ctr_state_lock(rt_root(c), c->id, &lockfd, err, sizeof(err));
	if (ret) {
		/* runc: deleting an unknown container with --force is success. */
		if (ret == -ENOENT && c->force)
			return 0;
		log_msg("%s", err);
		return 1;
	}
	ret = ctr_state_read(rt_root(c), c->id, &s, err, sizeof(err));
	if (ret == -ENOENT) {
		/* A lock but no state: a create that died before writing it. Nothing runs. */
		ret = 0;
	} else if (ret) {
		if (!c->force) {
			log_msg("%s (delete --force removes it)", err);
			goto out;
		}
		ret = 0;
	} else {
		rt_refresh(rt_root(c), &s);
		/* runc deletes a created container as it is, a running one only with --force. */
		if (s.status != CTR_STOPPED && s.status != CTR_CREATED && !c->force) {
			log_msg("cannot delete container %s that is not stopped: %s", c->id,
				ctr_status_name(s.status));
			ret = -EBUSY;
			goto out;
		}
		if (s.status != CTR_STOPPED && (ret = kill_vmm(&s))) {
			log_msg("delete %s: the VMM (pid %d) did not end: %s", c->id, s.pid,
				strerror(-ret));
			goto out;
		}
		/* The VMM is gone: poststop, whose failures are warnings (delete goes on). */
		s.status = CTR_STOPPED;
		rt_poststop(rt_root(c), &s);
	}
	ret = ctr_state_remove(rt_root(c), c->id, err, sizeof(err));
	if (ret)
		log_msg("%s", err);
out:
	ctr_state_unlock(lockfd);
	ctr_state_free(&s);
	return ret ? 1 : 0;
}

static int verb_spec(const struct rt_cmd *c)
{
	const char *dir = c->bundle ? c->bundle : ".";
	char path[PATH_MAX];
	size_t len = strlen(default_spec);
	ssize_t n;
	int fd;

	if (c->rootless_spec) {
		log_msg("spec --rootless: hull writes no rootless spec (its containers need no user "
			"namespace: the VM is the boundary); run `spec` and edit the result");
		return 1;
	}
	if (snprintf(path, sizeof(path), "%s/config.json", dir) >= (int)sizeof(path)) {
		log_msg("spec: %s/config.json: %s", dir, strerror(ENAMETOOLONG));
		return 1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0) {
		if (errno == EEXIST)
			log_msg("File %s exists. Remove it first", path);
		else
			log_msg("spec: %s: %s", path, strerror(errno));
		return 1;
	}
	n = write(fd, default_spec, len);
	if (n != (ssize_t)len) {
		log_msg("spec: %s: %s", path, n < 0 ? strerror(errno) : "short write");
		close(fd);
		unlink(path);
		return 1;
	}
	if (close(fd)) {
		log_msg("spec: %s: %s", path, strerror(errno));
		unlink(path);
		return 1;
	}
	return 0;
}

/* update: the resources (flags, then --resources FILE or - for stdin) read and checked. */
static int read_resources(struct rt_cmd *c)
{
	uint8_t *text = NULL;
	size_t len = 0;
	char err[512];
	int ret;

	if (!c->resources)
		return 0;
	if (!strcmp(c->resources, "-"))
		ret = file_read_all("/dev/stdin", RT_RESOURCES_MAX, &text, &len);
	else
		ret = file_read_all(c->resources, RT_RESOURCES_MAX, &text, &len);
	/* A pipe is no regular file: read stdin as a stream. */
	if (ret == -EINVAL && !strcmp(c->resources, "-")) {
		size_t cap = 0;
		ssize_t n;

		ret = 0;
		for (;;) {
			if (len == cap) {
				uint8_t *t;

				if (cap >= RT_RESOURCES_MAX) {
					ret = -EFBIG;
					break;
				}
				cap = cap ? 2 * cap : 4096;
				t = realloc(text, cap + 1);
				if (!t) {
					ret = -ENOMEM;
					break;
				}
				text = t;
			}
			n = read(STDIN_FILENO, text + len, cap - len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				ret = n < 0 ? -errno : 0;
				break;
			}
			len += (size_t)n;
		}
	}
	if (ret) {
		log_msg("update: --resources %s: %s", c->resources, file_strerror(ret));
		free(text);
		return ret;
	}
	ret = rt_resources_parse((const char *)text, len, &c->res, err, sizeof(err));
	if (ret)
		log_msg("update: --resources %s: %s", c->resources, err);
	free(text);
	return ret;
}

int rt_main(struct rt_cmd *c)
{
	char *text;

	if (c->g.debug)
		log_set_verbose(true);
	switch (c->verb) {
	case RT_STATE:
		return verb_state(c);
	case RT_LIST:
		return verb_list(c);
	case RT_DELETE:
		return verb_delete(c);
	case RT_SPEC:
		return verb_spec(c);
	case RT_FEATURES:
		text = rt_features_json();
		if (!text) {
			log_msg("features: %s", strerror(ENOMEM));
			return 1;
		}
		printf("%s\n", text);
		free(text);
		return 0;
	case RT_CREATE:
		return rt_create(c);
	case RT_START:
		return rt_start(c);
	case RT_KILL:
		return rt_kill(c);
	case RT_EXEC:
		return rt_exec(c);
	case RT_PAUSE:
	case RT_RESUME:
		return rt_pause(c, c->verb == RT_PAUSE);
	case RT_PS:
		return rt_ps(c);
	case RT_UPDATE:
		return read_resources(c) ? 1 : rt_update(c);
	case RT_RUN:
		return rt_run(c);
	case RT_NONE:
	default:
		log_msg("no runtime verb");
		return 2;
	}
}
