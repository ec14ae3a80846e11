/* rtparse: runc's verbs and their flags, as podman's conmon and containerd's shim pass them. */
#include "cli/runtime.h"

#include <errno.h>
#include <getopt.h>
#include <json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container/oci_json.h"
#include "container/signame.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "lib/util.h"

enum {
	O_BUNDLE = 256, O_CONSOLE_SOCKET, O_PID_FILE, O_NO_PIVOT, O_NO_NEW_KEYRING, O_PRESERVE_FDS,
	O_DETACH, O_KEEP, O_NO_SUBREAPER, O_ALL, O_FORCE, O_CWD, O_ENV, O_TTY, O_USER, O_GIDS,
	O_PROCESS, O_PROCESS_LABEL, O_APPARMOR, O_NO_NEW_PRIVS, O_CAP, O_CGROUP, O_FORMAT, O_QUIET,
	O_RESOURCES, O_MEMORY, O_MEMORY_RESERVATION, O_MEMORY_SWAP, O_CPU_SHARES, O_CPU_QUOTA,
	O_CPU_PERIOD, O_CPUSET_CPUS, O_CPUSET_MEMS, O_PIDS_LIMIT, O_IGNORED, O_ROOTLESS, O_HELP,
};

#define END { NULL, 0, NULL, 0 }
#define HELP { "help", no_argument, NULL, O_HELP }

/* create's flags, which run takes too. */
#define CREATE_OPTS                                                             \
	{ "bundle", required_argument, NULL, O_BUNDLE },                        \
	{ "console-socket", required_argument, NULL, O_CONSOLE_SOCKET },        \
	{ "pid-file", required_argument, NULL, O_PID_FILE },                    \
	{ "no-pivot", no_argument, NULL, O_NO_PIVOT },                          \
	{ "no-new-keyring", no_argument, NULL, O_NO_NEW_KEYRING },              \
	{ "preserve-fds", required_argument, NULL, O_PRESERVE_FDS }

static const struct option create_opts[] = { CREATE_OPTS, HELP, END };

static const struct option run_opts[] = {
	CREATE_OPTS,
	{ "detach", no_argument, NULL, O_DETACH },
	{ "keep", no_argument, NULL, O_KEEP },
	{ "no-subreaper", no_argument, NULL, O_NO_SUBREAPER },
	HELP, END,
};

static const struct option id_only_opts[] = { HELP, END };

static const struct option kill_opts[] = {
	{ "all", no_argument, NULL, O_ALL },
	HELP, END,
};

static const struct option delete_opts[] = {
	{ "force", no_argument, NULL, O_FORCE },
	HELP, END,
};

static const struct option exec_opts[] = {
	{ "console-socket", required_argument, NULL, O_CONSOLE_SOCKET },
	{ "cwd", required_argument, NULL, O_CWD },
	{ "env", required_argument, NULL, O_ENV },
	{ "tty", no_argument, NULL, O_TTY },
	{ "user", required_argument, NULL, O_USER },
	{ "additional-gids", required_argument, NULL, O_GIDS },
	{ "process", required_argument, NULL, O_PROCESS },
	{ "detach", no_argument, NULL, O_DETACH },
	{ "pid-file", required_argument, NULL, O_PID_FILE },
	{ "process-label", required_argument, NULL, O_PROCESS_LABEL },
	{ "apparmor", required_argument, NULL, O_APPARMOR },
	{ "no-new-privs", no_argument, NULL, O_NO_NEW_PRIVS },
	{ "cap", required_argument, NULL, O_CAP },
	{ "preserve-fds", required_argument, NULL, O_PRESERVE_FDS },
	{ "cgroup", required_argument, NULL, O_CGROUP },
	HELP, END,
};

static const struct option ps_opts[] = {
	{ "format", required_argument, NULL, O_FORMAT },
	HELP, END,
};

static const struct option list_opts[] = {
	{ "format", required_argument, NULL, O_FORMAT },
	{ "quiet", no_argument, NULL, O_QUIET },
	HELP, END,
};

static const struct option update_opts[] = {
	{ "resources", required_argument, NULL, O_RESOURCES },
	{ "memory", required_argument, NULL, O_MEMORY },
	{ "memory-reservation", required_argument, NULL, O_MEMORY_RESERVATION },
	{ "memory-swap", required_argument, NULL, O_MEMORY_SWAP },
	{ "cpu-share", required_argument, NULL, O_CPU_SHARES }, /* runc's spelling */
	{ "cpu-shares", required_argument, NULL, O_CPU_SHARES },
	{ "cpu-quota", required_argument, NULL, O_CPU_QUOTA },
	{ "cpu-period", required_argument, NULL, O_CPU_PERIOD },
	{ "cpuset-cpus", required_argument, NULL, O_CPUSET_CPUS },
	{ "cpuset-mems", required_argument, NULL, O_CPUSET_MEMS },
	{ "pids-limit", required_argument, NULL, O_PIDS_LIMIT },
	/* runc's other resource flags: taken and ignored (a VM has no such knob). */
	{ "blkio-weight", required_argument, NULL, O_IGNORED },
	{ "cpu-rt-period", required_argument, NULL, O_IGNORED },
	{ "cpu-rt-runtime", required_argument, NULL, O_IGNORED },
	{ "kernel-memory", required_argument, NULL, O_IGNORED },
	{ "kernel-memory-tcp", required_argument, NULL, O_IGNORED },
	{ "l3-cache-schema", required_argument, NULL, O_IGNORED },
	{ "mem-bw-schema", required_argument, NULL, O_IGNORED },
	HELP, END,
};

static const struct option spec_opts[] = {
	{ "bundle", required_argument, NULL, O_BUNDLE },
	{ "rootless", no_argument, NULL, O_ROOTLESS },
	HELP, END,
};

/* A verb: its name, its flags and short flags, and how many arguments it takes. */
static const struct verb {
	const char *name;
	enum rt_verb verb;
	const struct option *opts;
	const char *shorts; /* getopt's, after "+:" */
	int min_args, max_args; /* -1: no maximum */
	const char *usage;
} verbs[] = {
	{ "create", RT_CREATE, create_opts, "b:", 1, 1,
	  "create [--bundle DIR] [--pid-file FILE] [--console-socket PATH] [--no-pivot] "
	  "[--no-new-keyring] [--preserve-fds N] ID" },
	{ "start", RT_START, id_only_opts, "", 1, 1, "start ID" },
	{ "state", RT_STATE, id_only_opts, "", 1, 1, "state ID" },
	{ "kill", RT_KILL, kill_opts, "a", 1, 2, "kill [--all] ID [SIGNAL]" },
	{ "delete", RT_DELETE, delete_opts, "f", 1, 1, "delete [--force] ID" },
	{ "exec", RT_EXEC, exec_opts, "e:tu:g:p:dc:", 1, -1,
	  "exec [--process FILE | ...] [--detach] [--pid-file FILE] [--tty] "
	  "[--console-socket PATH] ID [CMD ARG...]" },
	{ "pause", RT_PAUSE, id_only_opts, "", 1, 1, "pause ID" },
	{ "resume", RT_RESUME, id_only_opts, "", 1, 1, "resume ID" },
	{ "ps", RT_PS, ps_opts, "f:", 1, -1, "ps [--format table|json] ID [PS-OPTIONS]" },
	{ "update", RT_UPDATE, update_opts, "r:", 1, 1,
	  "update [--resources FILE|-] [--memory N] [--cpu-quota N] ... ID" },
	{ "features", RT_FEATURES, id_only_opts, "", 0, 0, "features" },
	{ "run", RT_RUN, run_opts, "b:d", 1, 1,
	  "run [--bundle DIR] [--detach] [--pid-file FILE] [--console-socket PATH] ID" },
	{ "list", RT_LIST, list_opts, "f:q", 0, 0, "list [--format table|json] [--quiet]" },
	{ "spec", RT_SPEC, spec_opts, "b:", 0, 0, "spec [--bundle DIR]" },
};

static const struct verb *find_verb(const char *name)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(verbs); i++)
		if (!strcmp(verbs[i].name, name))
			return &verbs[i];
	return NULL;
}

enum rt_verb rt_verb_of(const char *name)
{
	const struct verb *v = find_verb(name);

	return v ? v->verb : RT_NONE;
}

/* runc's memory values: a size ("512m", "1G", bytes), or -1 for unlimited. */
static int mem_value(const char *s, int64_t *out)
{
	uint64_t v;

	if (!strcmp(s, "-1")) {
		*out = -1;
		return 0;
	}
	if (parse_size(s, &v) || v > INT64_MAX)
		return -EINVAL;
	*out = (int64_t)v;
	return 0;
}

/* A signed count: a decimal number, or -1 for unlimited. */
static int signed_value(const char *s, int64_t *out)
{
	uint64_t v;

	if (!strcmp(s, "-1")) {
		*out = -1;
		return 0;
	}
	if (parse_uint(s, 0, INT64_MAX, &v))
		return -EINVAL;
	*out = (int64_t)v;
	return 0;
}

/* One flag of update's flag form into r. */
static int update_flag(int opt, const char *arg, struct rt_resources *r)
{
	switch (opt) {
	case O_MEMORY:
		r->has_memory = true;
		return mem_value(arg, &r->memory);
	case O_MEMORY_RESERVATION:
		r->has_memory_reservation = true;
		return mem_value(arg, &r->memory_reservation);
	case O_MEMORY_SWAP:
		r->has_memory_swap = true;
		return mem_value(arg, &r->memory_swap);
	case O_CPU_SHARES:
		r->has_cpu_shares = true;
		return parse_uint(arg, 0, UINT64_MAX, &r->cpu_shares) ? -EINVAL : 0;
	case O_CPU_PERIOD:
		r->has_cpu_period = true;
		return parse_uint(arg, 0, UINT64_MAX, &r->cpu_period) ? -EINVAL : 0;
	case O_CPU_QUOTA:
		r->has_cpu_quota = true;
		return signed_value(arg, &r->cpu_quota);
	case O_PIDS_LIMIT:
		r->has_pids_limit = true;
		return signed_value(arg, &r->pids_limit);
	case O_CPUSET_CPUS:
		r->cpuset_cpus = arg;
		return 0;
	case O_CPUSET_MEMS:
		r->cpuset_mems = arg;
		return 0;
	default:
		/* runc's flags that a VM has no knob for: taken, not used. */
		return 0;
	}
}

static int too_many(const struct verb *v, int n)
{
	if (v->max_args == v->min_args)
		log_msg("\"%s\" requires exactly %d argument(s), got %d (usage: hull %s)", v->name,
			v->min_args, n, v->usage);
	else if (n < v->min_args)
		log_msg("\"%s\" requires a minimum of %d argument(s), got %d (usage: hull %s)",
			v->name, v->min_args, n, v->usage);
	else
		log_msg("\"%s\" requires a maximum of %d argument(s), got %d (usage: hull %s)",
			v->name, v->max_args, n, v->usage);
	return -EINVAL;
}

int rt_parse(int argc, char **argv, struct rt_cmd *c)
{
	const struct verb *v = find_verb(argv[0]);
	char shorts[32];
	uint64_t u;
	int opt, n, li;

	if (!v) {
		log_msg("unknown command '%s' (see 'hull --help')", argv[0]);
		return -EINVAL;
	}
	c->verb = v->verb;
	c->signal = 15; /* kill's default: SIGTERM */
	c->format = "table";
	/* Every list has room for all of argv. */
	c->env = calloc((size_t)argc, sizeof(*c->env));
	c->caps = calloc((size_t)argc, sizeof(*c->caps));
	c->gids = calloc((size_t)argc, sizeof(*c->gids));
	if (!c->env || !c->caps || !c->gids) {
		log_msg("%s: %s", v->name, strerror(ENOMEM));
		return -ENOMEM;
	}
	snprintf(shorts, sizeof(shorts), "+:%sh", v->shorts);
	optind = 0;
	opterr = 0;
	while ((li = -1, opt = getopt_long(argc, argv, shorts, v->opts, &li)) != -1) {
		const char *arg = optarg;

		switch (opt) {
		case 'b':
		case O_BUNDLE:
			c->bundle = arg;
			break;
		case O_CONSOLE_SOCKET:
			c->console_socket = arg;
			break;
		case O_PID_FILE:
			c->pid_file = arg;
			break;
		case O_NO_PIVOT:
			c->no_pivot = true;
			break;
		case O_NO_NEW_KEYRING:
			c->no_new_keyring = true;
			break;
		case O_PRESERVE_FDS:
			if (parse_uint(arg, 0, INT_MAX - 3, &u)) {
				log_msg("%s: --preserve-fds '%s': not a count of descriptors",
					v->name, arg);
				return -EINVAL;
			}
			c->preserve_fds = (unsigned int)u;
			break;
		case 'd':
		case O_DETACH:
			c->detach = true;
			break;
		case O_KEEP:
			c->keep = true;
			break;
		case O_NO_SUBREAPER:
			c->no_subreaper = true;
			break;
		case 'a':
		case O_ALL:
			c->all = true;
			break;
		case 'f':
			if (c->verb == RT_DELETE) {
				c->force = true;
				break;
			}
			/* ps -f, list -f: --format */
			/* fallthrough */
		case O_FORMAT:
			if (strcmp(arg, "table") && strcmp(arg, "json")) {
				log_msg("%s: invalid format option '%s': table or json", v->name,
					arg);
				return -EINVAL;
			}
			c->format = arg;
			break;
		case O_FORCE:
			c->force = true;
			break;
		case 'q':
		case O_QUIET:
			c->quiet = true;
			break;
		case O_CWD:
			c->cwd = arg;
			break;
		case 'e':
		case O_ENV:
			c->env[c->nenv++] = arg;
			break;
		case 't':
		case O_TTY:
			c->tty = true;
			break;
		case 'u':
		case O_USER:
			c->user = arg;
			break;
		case 'g':
		case O_GIDS:
			c->gids[c->ngids++] = arg;
			break;
		case 'p':
		case O_PROCESS:
			c->process = arg;
			break;
		case O_PROCESS_LABEL:
			c->process_label = arg;
			break;
		case O_APPARMOR:
			c->apparmor = arg;
			break;
		case O_NO_NEW_PRIVS:
			c->no_new_privs = true;
			break;
		case 'c':
		case O_CAP:
			c->caps[c->ncaps++] = arg;
			break;
		case O_CGROUP:
			break; /* exec --cgroup: the VM is the container's one cgroup */
		case 'r':
		case O_RESOURCES:
			c->resources = arg;
			break;
		case O_ROOTLESS:
			c->rootless_spec = true;
			break;
		case O_MEMORY:
		case O_MEMORY_RESERVATION:
		case O_MEMORY_SWAP:
		case O_CPU_SHARES:
		case O_CPU_QUOTA:
		case O_CPU_PERIOD:
		case O_CPUSET_CPUS:
		case O_CPUSET_MEMS:
		case O_PIDS_LIMIT:
		case O_IGNORED:
			if (update_flag(opt, arg, &c->res)) {
				log_msg("update: --%s '%s': not a valid value",
					li >= 0 ? v->opts[li].name : "?", arg);
				return -EINVAL;
			}
			break;
		case 'h':
		case O_HELP:
			printf("usage: hull [global options] %s\n", v->usage);
			return 1;
		case ':':
			log_msg("%s: option '%s' needs a value", v->name, argv[optind - 1]);
			return -EINVAL;
		default:
			log_msg("%s: flag provided but not defined: '%s' (usage: hull %s)", v->name,
				argv[optind - 1], v->usage);
			return -EINVAL;
		}
	}
	n = argc - optind;
	/* exec without --process takes the command after the id. */
	if (c->verb == RT_EXEC && !c->process && n < 2) {
		log_msg("exec: needs --process FILE or a command after the id (usage: hull %s)",
			v->usage);
		return -EINVAL;
	}
	if (n < v->min_args || (v->max_args >= 0 && n > v->max_args))
		return too_many(v, n);
	if (n)
		c->id = argv[optind];
	if (c->verb == RT_KILL && n == 2 && ctr_signal_parse(argv[optind + 1], &c->signal)) {
		log_msg("kill: unknown signal \"%s\"", argv[optind + 1]);
		return -EINVAL;
	}
	if (c->verb == RT_EXEC || c->verb == RT_PS) {
		c->args = (const char *const *)argv + optind + 1;
		c->nargs = (unsigned int)(n - 1);
	}
	if (c->verb == RT_EXEC && c->process && c->nargs) {
		log_msg("exec: a command after the id cannot be given with --process");
		return -EINVAL;
	}
	return 0;
}

void rt_cmd_free(struct rt_cmd *c)
{
	free(c->env);
	free(c->caps);
	free(c->gids);
	free(c->res.json_cpus);
	free(c->res.json_mems);
	c->env = c->caps = c->gids = NULL;
	c->res.json_cpus = c->res.json_mems = NULL;
}

/* --- update --resources: runc's LinuxResources --------------------------------------- */

/* An optional integer member of obj at "section.key". */
static int res_int(struct oci_ctx *c, struct json_object *obj, const char *key,
		   const char *where, int64_t min, bool *has, int64_t *out)
{
	struct json_object *v = oci_get(obj, key);

	if (!v)
		return 0;
	*has = true;
	return oci_i64(c, v, where, min, INT64_MAX, out);
}

int rt_resources_parse(const char *text, size_t len, struct rt_resources *r, char *err,
		       size_t errlen)
{
	struct oci_ctx c = { .err = err, .errlen = errlen };
	struct json_object *root = NULL, *m, *cpu, *pids, *v;
	int64_t shares = 0, period = 0;
	int ret;

	ret = json_parse_strict(text, len, RT_RESOURCES_MAX, &root, err, errlen);
	if (ret)
		return ret;
	if ((ret = oci_object(&c, root, "resources")))
		goto out;
	if ((m = oci_get(root, "memory"))) {
		ret = oci_object(&c, m, "memory") ?:
		      res_int(&c, m, "limit", "memory.limit", -1, &r->has_memory, &r->memory) ?:
		      res_int(&c, m, "reservation", "memory.reservation", -1,
			      &r->has_memory_reservation, &r->memory_reservation) ?:
		      res_int(&c, m, "swap", "memory.swap", -1, &r->has_memory_swap,
			      &r->memory_swap);
		if (ret)
			goto out;
	}
	if ((cpu = oci_get(root, "cpu"))) {
		bool has_shares = false, has_period = false;

		ret = oci_object(&c, cpu, "cpu") ?:
		      res_int(&c, cpu, "shares", "cpu.shares", 0, &has_shares, &shares) ?:
		      res_int(&c, cpu, "quota", "cpu.quota", -1, &r->has_cpu_quota,
			      &r->cpu_quota) ?:
		      res_int(&c, cpu, "period", "cpu.period", 0, &has_period, &period);
		if (ret)
			goto out;
		if (has_shares) {
			r->has_cpu_shares = true;
			r->cpu_shares = (uint64_t)shares;
		}
		if (has_period) {
			r->has_cpu_period = true;
			r->cpu_period = (uint64_t)period;
		}
		if ((v = oci_get(cpu, "cpus"))) {
			free(r->json_cpus);
			r->json_cpus = NULL;
			if ((ret = oci_str(&c, v, "cpu.cpus", &r->json_cpus)))
				goto out;
			r->cpuset_cpus = r->json_cpus;
		}
		if ((v = oci_get(cpu, "mems"))) {
			free(r->json_mems);
			r->json_mems = NULL;
			if ((ret = oci_str(&c, v, "cpu.mems", &r->json_mems)))
				goto out;
			r->cpuset_mems = r->json_mems;
		}
	}
	if ((pids = oci_get(root, "pids"))) {
		ret = oci_object(&c, pids, "pids") ?:
		      res_int(&c, pids, "limit", "pids.limit", -1, &r->has_pids_limit,
			      &r->pids_limit);
	}
out:
	json_object_put(root);
	return ret;
}
