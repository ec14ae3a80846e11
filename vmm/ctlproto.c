/* ctlproto: the control socket's protocol — one JSON object per line each way, as pure functions. */
#include "vmm/ctlproto.h"

#include <errno.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json.h"

static const char *const cmd_names[CTL_NCMDS] = {
	[CTL_STATE] = "state",
	[CTL_PAUSE] = "pause",
	[CTL_RESUME] = "resume",
	[CTL_STOP] = "stop",
	[CTL_BALLOON] = "balloon",
	[CTL_START] = "start",
	[CTL_KILL] = "kill",
	[CTL_PS] = "ps",
	[CTL_EXEC] = "exec",
	[CTL_RESIZE] = "resize",
	[CTL_MEMORY] = "memory",
	[CTL_UPDATE] = "update",
};

const char *ctl_cmd_name(enum ctl_cmd cmd)
{
	return (unsigned int)cmd < CTL_NCMDS ? cmd_names[cmd] : "?";
}

int ctl_cmd_from_name(const char *name, enum ctl_cmd *cmd)
{
	unsigned int i;

	for (i = 0; i < CTL_NCMDS; i++) {
		if (!strcmp(name, cmd_names[i])) {
			*cmd = (enum ctl_cmd)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Parse a line as one JSON object; NUL bytes are refused (json-c would stop at them). */
static int parse_object(const char *line, size_t len, struct json_object **out, char *err,
			size_t errlen)
{
	const char *nul = memchr(line, '\0', len);
	int ret;

	if (nul) {
		snprintf(err, errlen, "not valid JSON: NUL byte at byte %zu", (size_t)(nul - line));
		return -EINVAL;
	}
	ret = json_parse_strict(line, len, CTL_LINE_MAX, out, err, errlen);
	if (ret)
		return ret == -ENOMEM ? ret : -EINVAL;
	if (!json_object_is_type(*out, json_type_object)) {
		snprintf(err, errlen, "expected a JSON object");
		json_object_put(*out);
		*out = NULL;
		return -EINVAL;
	}
	return 0;
}

/* A u32 member of a request: 0, or -EINVAL with the reason in err. */
static int get_u32(struct json_object *v, const char *key, uint32_t max, uint32_t *out,
		   char *err, size_t errlen)
{
	uint64_t x;

	if (json_get_u64(v, 0, max, &x)) {
		snprintf(err, errlen, "\"%s\": expected an integer of 0 to %u", key, max);
		return -EINVAL;
	}
	*out = (uint32_t)x;
	return 0;
}

static const char *const fields[] = { "target", "signal", "all", "process", "id", "rows",
				      "cols", "size", "resources" };

/* Which command takes which field (the rest refuse it). */
static bool takes(enum ctl_cmd cmd, const char *key)
{
	if (!strcmp(key, "target"))
		return cmd == CTL_BALLOON;
	if (!strcmp(key, "signal") || !strcmp(key, "all"))
		return cmd == CTL_KILL;
	if (!strcmp(key, "process"))
		return cmd == CTL_EXEC;
	if (!strcmp(key, "resources"))
		return cmd == CTL_UPDATE;
	if (!strcmp(key, "id"))
		return cmd == CTL_RESIZE || cmd == CTL_KILL;
	if (!strcmp(key, "rows") || !strcmp(key, "cols"))
		return cmd == CTL_RESIZE;
	if (!strcmp(key, "size"))
		return cmd == CTL_MEMORY;
	return false;
}

static int request_fields(struct json_object *obj, struct ctl_request *req, char *err,
			  size_t errlen)
{
	uint32_t sig;
	const char *text;
	bool have_size = false;
	char **dst;
	unsigned int i;

	json_object_object_foreach(obj, key, val) {
		if (!strcmp(key, "cmd"))
			continue;
		for (i = 0; i < sizeof(fields) / sizeof(fields[0]) && strcmp(key, fields[i]); i++)
			;
		if (i == sizeof(fields) / sizeof(fields[0])) {
			snprintf(err, errlen, "unknown field '%.64s'", key);
			return -EINVAL;
		}
		if (!takes(req->cmd, key)) {
			snprintf(err, errlen, "\"%.32s\": %s takes no %.32s", key,
				 ctl_cmd_name(req->cmd), key);
			return -EINVAL;
		}
		if (!strcmp(key, "target")) {
			if (json_get_u64(val, 0, UINT64_MAX, &req->target)) {
				snprintf(err, errlen,
					 "\"target\": expected bytes, an integer of 0 or more");
				return -EINVAL;
			}
			req->has_target = true;
		} else if (!strcmp(key, "size")) {
			if (json_get_u64(val, 0, UINT64_MAX, &req->size)) {
				snprintf(err, errlen,
					 "\"size\": expected bytes, an integer of 0 or more");
				return -EINVAL;
			}
			have_size = true;
		} else if (!strcmp(key, "signal")) {
			if (get_u32(val, key, CTL_SIGNAL_MAX, &sig, err, errlen))
				return -EINVAL;
			if (!sig) {
				snprintf(err, errlen, "\"signal\": expected 1 to %d",
					 CTL_SIGNAL_MAX);
				return -EINVAL;
			}
			req->signal = (int)sig;
		} else if (!strcmp(key, "all")) {
			if (!json_object_is_type(val, json_type_boolean)) {
				snprintf(err, errlen, "\"all\": expected true or false");
				return -EINVAL;
			}
			req->all = json_object_get_boolean(val);
		} else if (!strcmp(key, "process") || !strcmp(key, "resources")) {
			dst = !strcmp(key, "process") ? &req->process : &req->resources;
			if (!json_object_is_type(val, json_type_object)) {
				snprintf(err, errlen, "\"%s\": expected an object", key);
				return -EINVAL;
			}
			text = json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE);
			*dst = text ? strdup(text) : NULL;
			if (!*dst)
				return -ENOMEM;
		} else if (get_u32(val, key, UINT32_MAX, !strcmp(key, "id") ? &req->id :
					 !strcmp(key, "rows") ? &req->rows : &req->cols,
				   err, errlen)) {
			return -EINVAL;
		}
	}
	if (req->cmd == CTL_KILL && !req->signal) {
		snprintf(err, errlen, "kill: no \"signal\"");
		return -EINVAL;
	}
	if (req->cmd == CTL_EXEC && !req->process) {
		snprintf(err, errlen, "exec: no \"process\"");
		return -EINVAL;
	}
	if (req->cmd == CTL_MEMORY && !have_size) {
		snprintf(err, errlen, "memory: no \"size\" (the guest's memory in bytes)");
		return -EINVAL;
	}
	if (req->cmd == CTL_UPDATE && !req->resources) {
		snprintf(err, errlen, "update: no \"resources\"");
		return -EINVAL;
	}
	return 0;
}

int ctl_parse_request(const char *line, size_t len, struct ctl_request *req, char *err,
		      size_t errlen)
{
	struct json_object *obj, *name;
	int ret;

	*req = (struct ctl_request){ .cmd = CTL_STATE };
	ret = parse_object(line, len, &obj, err, errlen);
	if (ret)
		return ret;
	ret = -EINVAL;
	if (!json_object_object_get_ex(obj, "cmd", &name)) {
		snprintf(err, errlen, "no \"cmd\" in the request");
		goto out;
	}
	if (!json_object_is_type(name, json_type_string)) {
		snprintf(err, errlen, "\"cmd\": expected a string");
		goto out;
	}
	if (ctl_cmd_from_name(json_object_get_string(name), &req->cmd)) {
		snprintf(err, errlen,
			 "unknown command '%.64s' (state, pause, resume, stop, balloon, start, "
			 "kill, ps, exec, resize, memory, update)",
			 json_object_get_string(name));
		goto out;
	}
	ret = request_fields(obj, req, err, errlen);
	if (ret == -ENOMEM)
		snprintf(err, errlen, "out of memory");
out:
	json_object_put(obj);
	if (ret)
		ctl_request_free(req);
	return ret;
}

void ctl_request_free(struct ctl_request *req)
{
	free(req->process);
	req->process = NULL;
	free(req->resources);
	req->resources = NULL;
}

int ctl_encode_request(const struct ctl_request *req, char *buf, size_t size)
{
	const char *cmd = ctl_cmd_name(req->cmd);
	int n;

	if (req->has_target)
		n = snprintf(buf, size, "{\"cmd\":\"%s\",\"target\":%llu}\n", cmd,
			     (unsigned long long)req->target);
	else if (req->cmd == CTL_KILL)
		n = req->id ? snprintf(buf, size, "{\"cmd\":\"%s\",\"signal\":%d,\"id\":%u}\n",
				       cmd, req->signal, req->id)
			    : snprintf(buf, size, "{\"cmd\":\"%s\",\"signal\":%d%s}\n", cmd,
				       req->signal, req->all ? ",\"all\":true" : "");
	else if (req->cmd == CTL_EXEC)
		/* process is JSON text already (an object: checked by the VMM's parser). */
		n = snprintf(buf, size, "{\"cmd\":\"%s\",\"process\":%s}\n", cmd,
			     req->process ? req->process : "null");
	else if (req->cmd == CTL_MEMORY)
		n = snprintf(buf, size, "{\"cmd\":\"%s\",\"size\":%llu}\n", cmd,
			     (unsigned long long)req->size);
	else if (req->cmd == CTL_UPDATE)
		n = snprintf(buf, size, "{\"cmd\":\"%s\",\"resources\":%s}\n", cmd,
			     req->resources ? req->resources : "null");
	else if (req->cmd == CTL_RESIZE)
		n = snprintf(buf, size, "{\"cmd\":\"%s\",\"id\":%u,\"rows\":%u,\"cols\":%u}\n", cmd,
			     req->id, req->rows, req->cols);
	else
		n = snprintf(buf, size, "{\"cmd\":\"%s\"}\n", cmd);
	return n < 0 || (size_t)n >= size ? -ENOSPC : n;
}

/* obj as one line with its newline (malloc'd); obj is put. */
static char *to_line(struct json_object *obj, size_t *len)
{
	const char *text;
	size_t n;
	char *line = NULL;

	if (!obj)
		return NULL;
	text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
	if (text) {
		n = strlen(text);
		line = malloc(n + 2);
		if (line) {
			memcpy(line, text, n);
			line[n] = '\n';
			line[n + 1] = '\0';
			*len = n + 1;
		}
	}
	json_object_put(obj);
	return line;
}

/* Add key: val to obj, or put val; false (obj's caller puts obj) when out of memory. */
static bool add(struct json_object *obj, const char *key, struct json_object *val)
{
	if (!val || json_object_object_add(obj, key, val)) {
		json_object_put(val);
		return false;
	}
	return true;
}

char *ctl_reply_ok(size_t *len)
{
	struct json_object *o = json_object_new_object();

	if (o && !add(o, "ok", json_object_new_boolean(1))) {
		json_object_put(o);
		return NULL;
	}
	return to_line(o, len);
}

char *ctl_reply_error(const char *msg, size_t *len)
{
	struct json_object *o = json_object_new_object();

	if (o && !add(o, "error", json_object_new_string(msg))) {
		json_object_put(o);
		return NULL;
	}
	return to_line(o, len);
}

static struct json_object *vcpus_array(const struct ctl_state *s)
{
	struct json_object *a = json_object_new_array(), *v;
	unsigned int i;

	for (i = 0; a && i < s->nvcpus; i++) {
		v = json_object_new_object();
		if (!v || !add(v, "index", json_object_new_int64(s->vcpus[i].index)) ||
		    !add(v, "tid", json_object_new_int64(s->vcpus[i].tid)) ||
		    json_object_array_add(a, v)) {
			json_object_put(v);
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

static struct json_object *devs_array(const struct ctl_state *s)
{
	struct json_object *a = json_object_new_array(), *v;
	unsigned int i;

	for (i = 0; a && i < s->ndevs; i++) {
		const struct ctl_dev *d = &s->devs[i];

		v = json_object_new_object();
		/* base < 2^43 (ARCHITECTURE.md): exact in every JSON reader's number. */
		if (!v || !add(v, "id", json_object_new_string(d->id)) ||
		    !add(v, "kind", json_object_new_string(d->kind)) ||
		    !add(v, "base", json_object_new_uint64(d->base)) ||
		    !add(v, "gsi", json_object_new_int64(d->gsi)) || json_object_array_add(a, v)) {
			json_object_put(v);
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

/* {"milestones_ms": {...}, "exits": N, "exit_reasons": {...}, "exit_sites": [...], ...} */
static struct json_object *stats_object(const struct ctl_state *s)
{
	const struct census_total *t = s->exits;
	struct json_object *o = json_object_new_object(), *ms, *why, *sites, *v;
	unsigned int i;
	char name[16];
	int64_t ns;

	/* Each member added as soon as made: on failure putting o frees them all. */
	if (!o || !add(o, "milestones_ms", ms = json_object_new_object()) ||
	    !add(o, "exit_reasons", why = json_object_new_object()) ||
	    !add(o, "exit_sites", sites = json_object_new_array()) ||
	    !add(o, "exits", json_object_new_uint64(t->exits)) ||
	    !add(o, "exit_other_sites", json_object_new_uint64(t->other_sites)))
		goto fail;
	for (i = 0; i < MS_COUNT; i++) {
		ns = milestone_ns(s->ms, i);
		if (ns >= 0 && !add(ms, milestone_name(i), json_object_new_double((double)ns / 1e6)))
			goto fail;
	}
	for (i = 0; i <= CENSUS_REASONS; i++)
		if (t->reasons[i] && !add(why, census_reason_name(i, name, sizeof(name)),
					  json_object_new_uint64(t->reasons[i])))
			goto fail;
	for (i = 0; i < t->nsites; i++) {
		v = json_object_new_object();
		if (!v || !add(v, "bus", json_object_new_string(t->sites[i].mmio ? "mmio" : "port")) ||
		    !add(v, "addr", json_object_new_uint64(t->sites[i].addr)) ||
		    !add(v, "dir", json_object_new_string(t->sites[i].write ? "write" : "read")) ||
		    !add(v, "count", json_object_new_uint64(t->sites[i].count)) ||
		    json_object_array_add(sites, v)) {
			json_object_put(v);
			goto fail;
		}
	}
	return o;
fail:
	json_object_put(o);
	return NULL;
}

static struct json_object *hotplug_object(const struct ctl_hotplug *h)
{
	struct json_object *o = json_object_new_object();

	if (o && (!add(o, "region", json_object_new_uint64(h->region)) ||
		  !add(o, "plugged", json_object_new_uint64(h->plugged)) ||
		  !add(o, "requested", json_object_new_uint64(h->requested)))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

char *ctl_reply_state(const struct ctl_state *s, size_t *len)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	if (!add(o, "state", json_object_new_string(s->paused ? "paused" : "running")) ||
	    !add(o, "vcpus", vcpus_array(s)) || !add(o, "memory", json_object_new_uint64(s->memory)) ||
	    !add(o, "devices", devs_array(s)) ||
	    !add(o, "uptime_ms", json_object_new_uint64(s->uptime_ms)) ||
	    (s->container && !add(o, "container", json_object_new_string(s->container))) ||
	    (s->exits && s->ms && !add(o, "stats", stats_object(s))) ||
	    (s->hotplug && !add(o, "hotplug", hotplug_object(s->hotplug)))) {
		json_object_put(o);
		return NULL;
	}
	return to_line(o, len);
}

char *ctl_reply_pids(const pid_t *pids, unsigned int n, size_t *len)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array();
	unsigned int i;

	for (i = 0; a && i < n; i++)
		if (json_object_array_add(a, json_object_new_int64(pids[i]))) {
			json_object_put(a);
			a = NULL;
		}
	if (!o || !add(o, "pids", a)) {
		json_object_put(o);
		return NULL;
	}
	return to_line(o, len);
}

char *ctl_reply_exec(uint32_t id, size_t *len)
{
	struct json_object *o = json_object_new_object();

	if (!o || !add(o, "ok", json_object_new_boolean(1)) ||
	    !add(o, "id", json_object_new_int64(id))) {
		json_object_put(o);
		return NULL;
	}
	return to_line(o, len);
}

char *ctl_reply_exited(int sig, int code, size_t *len)
{
	struct json_object *o = json_object_new_object();

	if (!o || !add(o, sig ? "signal" : "exit", json_object_new_int64(sig ? sig : code))) {
		json_object_put(o);
		return NULL;
	}
	return to_line(o, len);
}

char *ctl_reply_balloon(const struct ctl_balloon *b, size_t *len)
{
	struct json_object *o = json_object_new_object(), *stats = json_object_new_object();
	unsigned int i;

	if (!o || !add(o, "target", json_object_new_uint64(b->target)) ||
	    !add(o, "actual", json_object_new_uint64(b->actual)) ||
	    !add(o, "released", json_object_new_uint64(b->released)) ||
	    !add(o, "reported", json_object_new_uint64(b->reported)))
		goto fail;
	for (i = 0; stats && i < b->nstats; i++)
		if (!add(stats, b->stats[i].name, json_object_new_uint64(b->stats[i].value)))
			goto fail;
	if (!add(o, "stats", stats)) {
		stats = NULL; /* put by add */
		goto fail;
	}
	stats = NULL; /* o's now */
	if (b->has_age && !add(o, "stats_age_ms", json_object_new_uint64(b->stats_age_ms)))
		goto fail;
	return to_line(o, len);
fail:
	json_object_put(stats);
	json_object_put(o);
	return NULL;
}

int ctl_parse_reply(const char *line, size_t len, char *err, size_t errlen)
{
	struct json_object *rep, *msg;
	int ret;

	ret = parse_object(line, len, &rep, err, errlen);
	if (ret)
		return ret;
	ret = 0;
	if (json_object_object_get_ex(rep, "error", &msg)) {
		snprintf(err, errlen, "%s",
			 json_object_is_type(msg, json_type_string) ? json_object_get_string(msg) :
								      "(no message)");
		ret = 1;
	}
	json_object_put(rep);
	return ret;
}

/* A member of a reply object: 0 with *v (a reference into *rep, put *rep after), or -errno. */
static int reply_member(const char *line, size_t len, const char *key, struct json_object **rep,
			struct json_object **v)
{
	char err[128];
	int ret = parse_object(line, len, rep, err, sizeof(err));

	if (ret)
		return ret;
	if (!json_object_object_get_ex(*rep, key, v) || !*v)
		return -ENOENT;
	return 0;
}

int ctl_reply_int(const char *line, size_t len, const char *key, int64_t min, int64_t max,
		  int64_t *out)
{
	struct json_object *rep = NULL, *v;
	int ret = reply_member(line, len, key, &rep, &v);

	if (!ret && json_get_i64(v, min, max, out))
		ret = -EINVAL;
	json_object_put(rep);
	return ret;
}

int ctl_reply_string(const char *line, size_t len, const char *key, char *buf, size_t size)
{
	struct json_object *rep = NULL, *v;
	int ret = reply_member(line, len, key, &rep, &v);

	if (!ret && !json_object_is_type(v, json_type_string))
		ret = -EINVAL;
	if (!ret && snprintf(buf, size, "%s", json_object_get_string(v)) >= (int)size)
		ret = -ENOSPC;
	json_object_put(rep);
	return ret;
}

/* --- the line reader ------------------------------------------------------------------ */

void ctl_reader_init(struct ctl_reader *r)
{
	r->start = r->len = r->scanned = 0;
}

char *ctl_reader_room(struct ctl_reader *r, size_t *room)
{
	if (r->start) {
		memmove(r->buf, r->buf + r->start, r->len);
		r->start = 0;
	}
	*room = sizeof(r->buf) - r->len;
	return r->buf + r->len;
}

void ctl_reader_commit(struct ctl_reader *r, size_t n)
{
	r->len += n;
}

int ctl_reader_line(struct ctl_reader *r, const char **line, size_t *len)
{
	char *p = r->buf + r->start, *nl;

	/* Each byte is scanned once, however the line arrived. */
	nl = memchr(p + r->scanned, '\n', r->len - r->scanned);
	if (!nl) {
		r->scanned = r->len;
		return r->len >= sizeof(r->buf) ? -EMSGSIZE : 0;
	}
	*line = p;
	*len = (size_t)(nl - p);
	r->start += *len + 1;
	r->len -= *len + 1;
	r->scanned = 0;
	return 1;
}

size_t ctl_reader_pending(const struct ctl_reader *r)
{
	return r->len;
}
