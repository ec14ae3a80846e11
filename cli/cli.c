/* cli: hull's command line — global options, commands, flags and help, from the config tables. */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "lib/log.h"
#include "lib/util.h"

#define HELP_COL 20   /* where descriptions start in --help */
#define HELP_WIDTH 58 /* and how wide they are */

static const char usage_top[] =
	"usage: hull [--log FILE] [--log-format text|json] <command> [options]\n"
	"\n"
	"hull is a minimal KVM virtual machine monitor.\n"
	"\n"
	"commands:\n"
	"  run       run a container in its own microVM (see 'hull run --help')\n"
	"  vm        boot a Linux microVM (see 'hull vm --help')\n"
	"  ctl       send a command to a running VM's control socket\n"
	"            (hull ctl PATH state|pause|resume|stop, memory SIZE)\n"
	"\n"
	"as an OCI runtime, runc's verbs (each container in its own microVM; see README):\n"
	"  create, start, state, kill, delete, exec, pause, resume, ps, update,\n"
	"  features, list, spec; run with runc's flags (--detach, --pid-file, ...)\n"
	"\n"
	"global options, before the command:\n"
	"  --log FILE               send hull's own messages to FILE (appended to)\n"
	"                           instead of stderr\n"
	"  --log-format text|json   each message as a line \"hull: ...\" (text, the\n"
	"                           default) or as a JSON object {\"level\", \"msg\",\n"
	"                           \"time\"} (json, as runc writes them)\n"
	"  --root DIR               the runtime's state directory (default /run/hull)\n"
	"  --debug                  debug messages (as --verbose)\n"
	"  --systemd-cgroup, --cgroup-manager M, --rootless V, --criu PATH\n"
	"                           runc's and crun's, accepted for the shims\n"
	"  -h, --help               show this help\n"
	"  -V, --version            show the version (runc's lines: spec, libseccomp)\n";

static const char vm_trailer[] =
	"On a terminal, Ctrl-A x stops the VM (exit 0); Ctrl-A Ctrl-A sends Ctrl-A.\n"
	"Exit status: 0 when the guest powers off or reboots, or on a stop through\n"
	"the control socket; 128+N on a terminating signal N (SIGINT 130, SIGTERM\n"
	"143, SIGHUP 129, SIGUSR1 138, SIGUSR2 140, ...); 1 when the VM fails (KVM\n"
	"error, triple fault); 2 for bad input, found before /dev/kvm is opened.\n";

/* What a flag of `hull vm` is: a VM setting, a device kind, or the CLI's own. */
enum opt_what { OPT_SETTING, OPT_KIND, OPT_CONFIG, OPT_VERBOSE, OPT_HELP };

struct opt {
	enum opt_what what;
	const char *name;
	const struct config_setting *setting;
	const struct virtio_kind *kind;
};

#define OPT_VAL 256 /* getopt's val for opts[i] is OPT_VAL + i */
#define MAX_OPTS 48

/* The flags of `hull vm`, in --help's order: settings, devices, then the CLI's own. */
static unsigned int vm_opts(struct opt *o)
{
	unsigned int i, n = 0;

	/* The tables are hull's own: MAX_OPTS has room for them (test_cli sees every flag). */
	for (i = 0; i < config_nsettings && n < MAX_OPTS - 3; i++)
		o[n++] = (struct opt){ OPT_SETTING, config_settings[i].flag, &config_settings[i],
				       NULL };
	for (i = 0; i < config_nkinds && n < MAX_OPTS - 3; i++)
		o[n++] = (struct opt){ OPT_KIND, config_kinds[i]->name, NULL, config_kinds[i] };
	o[n++] = (struct opt){ OPT_CONFIG, "config", NULL, NULL };
	o[n++] = (struct opt){ OPT_VERBOSE, "verbose", NULL, NULL };
	o[n++] = (struct opt){ OPT_HELP, "help", NULL, NULL };
	return n;
}

/* --- help ------------------------------------------------------------------------------ */

/* One option: its label, then each line of text at HELP_COL (on the next line if need be). */
static void help_item(FILE *f, const char *label, const char *text)
{
	const char *nl;
	int col = fprintf(f, "  %s", label);

	if (col >= HELP_COL - 1) {
		fputc('\n', f);
		col = 0;
	}
	while (*text) {
		nl = strchrnul(text, '\n');
		fprintf(f, "%*s%.*s\n", HELP_COL - col, "", (int)(nl - text), text);
		col = 0;
		text = *nl ? nl + 1 : nl;
	}
}

/* text's words into lines of at most HELP_WIDTH columns, as help_item wants them. */
static void wrap(FILE *f, const char *text, int *col)
{
	const char *w = text, *end;
	int n;

	while (*w) {
		end = strchr(w, ' ');
		n = end ? (int)(end - w) : (int)strlen(w);
		if (*col && *col + 1 + n > HELP_WIDTH) {
			fputc('\n', f);
			*col = 0;
		}
		*col += fprintf(f, "%s%.*s", *col ? " " : "", n, w);
		w += n;
		while (*w == ' ')
			w++;
	}
}

/* What --config takes, from the same tables as the flags. */
static char *config_help(void)
{
	char *buf = NULL, word[160];
	size_t len = 0, n;
	unsigned int i, j;
	FILE *f = open_memstream(&buf, &len);
	int col = 0;

	if (!f)
		return NULL;
	wrap(f, "a JSON object with the same settings:", &col);
	for (i = 0; i < config_nsettings; i++) {
		snprintf(word, sizeof(word), "%s,", config_settings[i].json);
		wrap(f, word, &col);
	}
	for (i = 0; i < config_nkinds; i++) {
		const struct virtio_kind *k = config_kinds[i];

		n = (size_t)snprintf(word, sizeof(word), "%s (%s", k->json,
				     k->form == VIRTIO_KIND_LIST	 ? "array of {"
				     : k->form == VIRTIO_KIND_SINGLE ? "{"
								     : "true or false");
		for (j = 0; j < k->nfields && n < sizeof(word); j++)
			n += (size_t)snprintf(word + n, sizeof(word) - n, "%s%s", j ? ", " : "",
					      k->fields[j].key);
		if (n < sizeof(word))
			snprintf(word + n, sizeof(word) - n, "%s)%s",
				 k->form == VIRTIO_KIND_SWITCH ? "" : "}",
				 i + 1 < config_nkinds ? "," : ";");
		wrap(f, word, &col);
	}
	wrap(f, "flags given too override it, and a device flag replaces the file's whole list "
		"of that kind", &col);
	fputc('\n', f);
	fclose(f);
	return buf;
}

char *cli_vm_help(void)
{
	struct opt o[MAX_OPTS];
	unsigned int i, n = vm_opts(o);
	char *buf = NULL, *text, label[160];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fprintf(f, "usage: hull [global options] vm [options]\n\n"
		   "Boot a Linux microVM on /dev/kvm; its serial console is hull's stdin and "
		   "stdout.\n\n");
	for (i = 0; i < n; i++) {
		const struct config_setting *s = o[i].setting;
		const struct virtio_kind *k = o[i].kind;

		switch (o[i].what) {
		case OPT_SETTING:
			snprintf(label, sizeof(label), "--%s%s%s", s->flag, s->arg ? " " : "",
				 s->arg ? s->arg : "");
			help_item(f, label, s->help);
			break;
		case OPT_KIND:
			snprintf(label, sizeof(label), "--%s %s", k->name, k->arg);
			if (k->form != VIRTIO_KIND_LIST) {
				help_item(f, label, k->help);
				break;
			}
			if (asprintf(&text,
				     "%srepeatable: at most %u, and %u virtio devices in all\n",
				     k->help, config_kind_max(k), arch_virtio_slots()) < 0)
				text = NULL;
			help_item(f, label, text ? text : k->help);
			free(text);
			break;
		case OPT_CONFIG:
			text = config_help();
			help_item(f, "--config FILE", text ? text : "a JSON file\n");
			free(text);
			break;
		case OPT_VERBOSE:
			help_item(f, "-v, --verbose", "more diagnostics\n");
			break;
		case OPT_HELP:
			help_item(f, "-h, --help", "show this help\n");
			break;
		}
	}
	fprintf(f, "\nThe default command line is\n  \"%s\"\n%s", arch_default_cmdline(),
		vm_trailer);
	fclose(f);
	return buf;
}

/* --- hull vm -------------------------------------------------------------------------- */

static enum cli_action bad_option(int argc, char **argv, int opt)
{
	const char *arg = optind - 1 < argc ? argv[optind - 1] : "?";

	if (opt == ':')
		log_msg("vm: option '%s' needs a value", arg);
	else
		log_msg("vm: unknown option '%s' (see 'hull vm --help')", arg);
	return CLI_EXIT_USAGE;
}

/* A device flag: the first of a kind replaces what the config file listed. */
static int apply_kind(struct vm_config *cfg, const struct virtio_kind *k, bool *given,
		      const char *value)
{
	char err[256];
	int ret;

	if (!*given)
		config_clear_kind(cfg, k);
	*given = true;
	ret = config_add_device(cfg, k, value, err, sizeof(err));
	if (ret)
		log_msg("--%s %s", k->name, ret == -ENOMEM ? strerror(ENOMEM) : err);
	return ret;
}

static int apply_setting(struct vm_config *cfg, const struct config_setting *s, const char *value)
{
	char err[256];
	int ret = config_apply(cfg, s, value ? value : "on", err, sizeof(err));

	if (ret)
		log_msg("--%s %s", s->flag, ret == -ENOMEM ? strerror(ENOMEM) : err);
	return ret;
}

static enum cli_action parse_vm(int argc, char **argv, struct vm_config *cfg, bool *verbose)
{
	struct opt o[MAX_OPTS];
	struct option lo[MAX_OPTS + 1];
	bool given[MAX_OPTS] = { false };
	unsigned int i, n = vm_opts(o);
	char err[256], *help;
	int opt, pass;

	for (i = 0; i < n; i++) {
		bool flag = o[i].what == OPT_VERBOSE || o[i].what == OPT_HELP ||
			    (o[i].what == OPT_SETTING && o[i].setting->type == CONFIG_FLAG);

		lo[i] = (struct option){ o[i].name, flag ? no_argument : required_argument, NULL,
					 OPT_VAL + (int)i };
	}
	lo[n] = (struct option){ NULL, 0, NULL, 0 };
	/* Two passes: --config first, wherever it stands, so other flags override it. */
	for (pass = 0; pass < 2; pass++) {
		optind = 0;
		opterr = 0;
		while ((opt = getopt_long(argc, argv, "+:vh", lo, NULL)) != -1) {
			const struct opt *p = NULL;

			if (opt >= OPT_VAL && opt < OPT_VAL + (int)n)
				p = &o[opt - OPT_VAL];
			for (i = 0; !p && (opt == 'v' || opt == 'h') && i < n; i++)
				if (o[i].what == (opt == 'v' ? OPT_VERBOSE : OPT_HELP))
					p = &o[i];
			if (!p)
				return bad_option(argc, argv, opt);
			switch (p->what) {
			case OPT_HELP:
				if (pass == 0) {
					help = cli_vm_help();
					if (!help)
						return CLI_EXIT_USAGE;
					fputs(help, stdout);
					free(help);
					return CLI_EXIT_OK;
				}
				break;
			case OPT_VERBOSE:
				*verbose = true;
				break;
			case OPT_CONFIG:
				if (pass == 0 && config_load_file(cfg, optarg, err, sizeof(err))) {
					log_msg("config %s: %s", optarg, err);
					return CLI_EXIT_USAGE;
				}
				break;
			case OPT_SETTING:
				if (pass == 1 && apply_setting(cfg, p->setting, optarg))
					return CLI_EXIT_USAGE;
				break;
			case OPT_KIND:
				if (pass == 1 &&
				    apply_kind(cfg, p->kind, &given[p - o], optarg))
					return CLI_EXIT_USAGE;
				break;
			}
		}
	}
	if (optind < argc) {
		log_msg("vm: unexpected argument '%s' (see 'hull vm --help')", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	return CLI_RUN_VM;
}

/* --- global options -------------------------------------------------------------------- */

/* "--name VALUE" or "--name=VALUE" at argv[*i]: the value (advancing *i), or NULL. */
static const char *global_value(int argc, char **argv, int *i, const char *name, bool *bad)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n))
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n])
		return NULL;
	if (*i + 1 >= argc) {
		log_msg("option '%s' needs a value", name);
		*bad = true;
		return NULL;
	}
	return argv[++*i];
}

/*
 * `run` with one of runc's flags that `hull run` does not have: runc's run (create + start),
 * parsed as a runtime verb. Without them `hull run --bundle DIR ID` is already runc's run in
 * the foreground.
 */
static bool runc_run_form(int argc, char **argv)
{
	static const char *const flags[] = { "-b", "-d", "--detach", "--pid-file",
					     "--console-socket", "--no-pivot", "--no-new-keyring",
					     "--preserve-fds", "--keep", "--no-subreaper" };
	/* The flags of either form that take a value: what follows them is no argument. */
	static const char *const valued[] = { "-b", "--bundle", "--pid-file", "--console-socket",
					      "--preserve-fds", "--rootfs", "--env", "--workdir",
					      "--user", "--hostname", "--mount", "--tmpfs",
					      "--kernel", "--cpus", "--memory", "--net",
					      "--console-log" };
	unsigned int k;
	size_t n;
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (argv[i][0] != '-') {
			for (k = 0; k < ARRAY_SIZE(valued); k++)
				if (!strcmp(argv[i - 1], valued[k]))
					break;
			if (k == ARRAY_SIZE(valued))
				return false; /* the id, or hull run's command */
			continue;
		}
		for (k = 0; k < ARRAY_SIZE(flags); k++) {
			n = strlen(flags[k]);
			if (!strncmp(argv[i], flags[k], n) &&
			    (!argv[i][n] || (argv[i][n] == '=' && flags[k][1] == '-')))
				return true;
		}
	}
	return false;
}

enum cli_action cli_parse(int argc, char **argv, struct vm_config *cfg, struct cli_run *run,
			  bool *verbose, int *verb)
{
	const char *log_path = NULL, *v;
	enum log_format format = LOG_TEXT;
	bool bad = false;
	int i, ret;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage_top, stdout);
			return CLI_EXIT_OK;
		}
		if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version") ||
		    !strcmp(argv[i], "-v")) {
			rt_print_version();
			return CLI_EXIT_OK;
		}
		if (!strcmp(argv[i], "--systemd-cgroup")) {
			run->rt.g.systemd_cgroup = true;
		} else if (!strcmp(argv[i], "--debug")) {
			run->rt.g.debug = true;
			*verbose = true;
		} else if ((v = global_value(argc, argv, &i, "--root", &bad))) {
			run->rt.g.root = v;
		} else if ((v = global_value(argc, argv, &i, "--cgroup-manager", &bad))) {
			run->rt.g.cgroup_manager = v;
		} else if ((v = global_value(argc, argv, &i, "--rootless", &bad))) {
			run->rt.g.rootless = v;
		} else if ((v = global_value(argc, argv, &i, "--criu", &bad))) {
			run->rt.g.criu = v;
		} else if ((v = global_value(argc, argv, &i, "--log", &bad))) {
			log_path = v;
		} else if ((v = global_value(argc, argv, &i, "--log-format", &bad))) {
			if (log_parse_format(v, &format)) {
				log_msg("--log-format '%s': not text or json", v);
				return CLI_EXIT_USAGE;
			}
		} else {
			if (!bad)
				log_msg("unknown option '%s' (see 'hull --help')", argv[i]);
			return CLI_EXIT_USAGE;
		}
	}
	run->rt.g.log = log_path;
	run->rt.g.log_json = format == LOG_JSON;
	ret = log_open(log_path, format);
	if (ret) {
		log_msg("--log %s: %s", log_path, strerror(-ret));
		return CLI_EXIT_USAGE;
	}
	if (i >= argc) {
		fputs(usage_top, stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(argv[i], "help")) {
		fputs(usage_top, stdout);
		return CLI_EXIT_OK;
	}
	if (!strcmp(argv[i], "vm"))
		return parse_vm(argc - i, argv + i, cfg, verbose);
	if (rt_verb_of(argv[i]) != RT_NONE &&
	    (strcmp(argv[i], "run") || runc_run_form(argc - i, argv + i))) {
		*verb = i;
		ret = rt_parse(argc - i, argv + i, &run->rt);
		return ret > 0 ? CLI_EXIT_OK : ret < 0 ? CLI_EXIT_USAGE : CLI_RUN_RUNTIME;
	}
	if (!strcmp(argv[i], "run"))
		return cli_parse_run(argc - i, argv + i, cfg, run, verbose);
	*verb = i;
	if (!strcmp(argv[i], "ctl"))
		return CLI_RUN_CTL;
	log_msg("unknown command '%s' (see 'hull --help')", argv[i]);
	return CLI_EXIT_USAGE;
}
