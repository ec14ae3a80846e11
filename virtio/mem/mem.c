/* virtio-mem: the device — config space, the request queue, plug and unplug of hotplug blocks. */
#include "virtio/mem/internal.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

static struct vmem *to_vmem(struct virtio_dev *d)
{
	return container_of(d, struct vmem, dev);
}

/* A host call failed: the guest gets BUSY or an ACK; the user hears of it once. */
static void host_failed(struct vmem *m, const char *what, unsigned int first, unsigned int n,
			int err)
{
	if (m->failure_logged)
		return;
	m->failure_logged = true;
	log_msg("%s: %s blocks %u-%u: %s%s", m->dev.name, what, first, first + n - 1, strerror(-err),
		err == -ENOSPC && m->hp->huge ? " (too few free 2 MiB pages in the host's pool: "
						"/proc/sys/vm/nr_hugepages)" : "");
}

/* PLUG (on) or UNPLUG of nb blocks from addr. */
static uint16_t change(struct vmem *m, uint64_t addr, uint16_t nb, bool on)
{
	struct gmem_hp *hp = m->hp;
	unsigned int first, plugged;
	int ret;

	/* The usable region is the whole region: every block may be plugged. */
	if (!gmem_hp_blocks(hp, addr, nb, &first))
		return VIRTIO_MEM_RESP_ERROR;
	/* hp->nplugged + nb <= 2 * GMEM_HP_MAX_BLOCKS: no overflow in blocks or bytes. */
	if (on && (uint64_t)(hp->nplugged + nb) * hp->block > m->requested)
		return VIRTIO_MEM_RESP_NACK;
	plugged = gmem_hp_count(hp, first, nb);
	if (plugged != (on ? 0u : nb))
		return VIRTIO_MEM_RESP_ERROR;
	if (on) {
		ret = gmem_hp_plug(hp, first, nb);
		if (ret) {
			/*
			 * mprotect refused (out of mappings): the runs before the failing one are
			 * plugged; unplug them again (all of the range was unplugged), so that the
			 * guest, told BUSY, finds the range as it left it when it tries later.
			 */
			gmem_hp_unplug(hp, first, nb);
			host_failed(m, "plugging", first, nb, ret);
			return VIRTIO_MEM_RESP_BUSY;
		}
	} else {
		ret = gmem_hp_unplug(hp, first, nb);
		/* Unplugged all the same: the guest gave them up; hull may keep some memory. */
		if (ret)
			host_failed(m, "unplugging", first, nb, ret);
	}
	log_debug("%s: %s blocks %u-%u; %u of %u plugged", m->dev.name, on ? "plugged" : "unplugged",
		  first, first + nb - 1, hp->nplugged, hp->nblocks);
	return VIRTIO_MEM_RESP_ACK;
}

static uint16_t state_of(struct vmem *m, uint64_t addr, uint16_t nb, uint16_t *state)
{
	unsigned int first, plugged;

	if (!gmem_hp_blocks(m->hp, addr, nb, &first))
		return VIRTIO_MEM_RESP_ERROR;
	plugged = gmem_hp_count(m->hp, first, nb);
	*state = plugged == nb ? VIRTIO_MEM_STATE_PLUGGED :
		 plugged == 0  ? VIRTIO_MEM_STATE_UNPLUGGED :
				 VIRTIO_MEM_STATE_MIXED;
	return VIRTIO_MEM_RESP_ACK;
}

uint16_t vmem_handle(struct vmem *m, const struct virtio_mem_req *req, uint16_t *state)
{
	/* The three range requests share one layout (addr, nb_blocks). */
	uint64_t addr = le64toh(req->u.plug.addr);
	uint16_t nb = le16toh(req->u.plug.nb_blocks);
	int ret;

	switch (le16toh(req->type)) {
	case VIRTIO_MEM_REQ_PLUG:
		return change(m, addr, nb, true);
	case VIRTIO_MEM_REQ_UNPLUG:
		return change(m, addr, nb, false);
	case VIRTIO_MEM_REQ_UNPLUG_ALL:
		ret = gmem_hp_unplug(m->hp, 0, m->hp->nblocks);
		if (ret)
			host_failed(m, "unplugging", 0, m->hp->nblocks, ret);
		log_debug("%s: unplugged every block", m->dev.name);
		return VIRTIO_MEM_RESP_ACK;
	case VIRTIO_MEM_REQ_STATE:
		return state_of(m, addr, nb, state);
	default:
		return VIRTIO_MEM_RESP_ERROR;
	}
}

/*
 * Serve requests; lock held, queue live. Bounded per call: VIRTIO_NOTIFY_BUDGET requests,
 * each reading 24 bytes and changing at most the whole region once, then a requeue.
 */
static void serve(struct vmem *m)
{
	struct virtio_dev *d = &m->dev;
	struct virtq *vq = &d->vq[0];
	struct iovec iov[VMEM_IOV];
	struct virtq_chain c;
	struct virtio_mem_req req;
	struct virtio_mem_resp resp;
	unsigned int budget = VIRTIO_NOTIFY_BUDGET;
	bool pushed = false;
	uint16_t state;
	int ret;

	for (;;) {
		if (!budget--) {
			if (virtq_pending(vq))
				virtio_dev_requeue(d, 0);
			break;
		}
		c = (struct virtq_chain){ .iov = iov, .cap = VMEM_IOV };
		ret = virtq_pop(vq, &c);
		if (!ret)
			break;
		if (ret < 0) {
			virtio_dev_fail(d, "queue 0: %s", vq->why);
			break;
		}
		if (c.out_len < VMEM_REQ_LEN || c.in_len < VMEM_RESP_LEN) {
			/* Nothing to act on, or no room to answer: the driver broke the protocol. */
			virtio_dev_fail(d, "request of %zu bytes with %zu for the response (need %zu "
					"and %zu)", c.out_len, c.in_len, VMEM_REQ_LEN, VMEM_RESP_LEN);
			break;
		}
		virtq_read_out(&c, 0, &req, sizeof(req));
		state = 0;
		memset(&resp, 0, sizeof(resp));
		resp.type = htole16(vmem_handle(m, &req, &state));
		resp.u.state.state = htole16(state);
		virtq_write_in(&c, 0, &resp, sizeof(resp));
		if (virtq_push(vq, c.head, sizeof(resp)) < 0)
			log_msg("%s: head %u could not be returned", d->name, c.head);
		pushed = true;
	}
	if (pushed)
		virtio_dev_queue_done(d, 0);
}

static void vmem_notify(struct virtio_dev *d, unsigned int q)
{
	(void)q;
	serve(to_vmem(d));
}

static void vmem_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len)
{
	struct vmem *m = to_vmem(d);
	struct virtio_mem_config cfg = {
		.block_size = htole64(m->hp->block),
		.node_id = 0,
		.addr = htole64(m->hp->gpa),
		.region_size = htole64(m->hp->size),
		.usable_region_size = htole64(m->hp->size),
		.plugged_size = htole64((uint64_t)m->hp->nplugged * m->hp->block),
		.requested_size = htole64(m->requested),
	};

	memcpy(data, (const uint8_t *)&cfg + off, len);
}

static void vmem_config_write(struct virtio_dev *d, uint32_t off, const uint8_t *data,
			      uint32_t len)
{
	(void)data;
	log_debug("%s: config write at %u (%u bytes) ignored", d->name, off, len);
}

static void vmem_free(struct virtio_dev *d);

/*
 * No reset op: a reset leaves the plugged blocks plugged (the guest may still be using them;
 * its driver finds plugged_size not 0 when it starts again and unplugs all first).
 */
static const struct virtio_dev_ops vmem_ops = {
	.type = "mem",
	.device_id = VIRTIO_ID_MEM,
	.config_read = vmem_config_read,
	.config_write = vmem_config_write,
	.notify = vmem_notify,
	.destroy = vmem_free,
};

int vmem_create(const struct virtio_host *host, struct vmem **out)
{
	uint64_t features = 1ULL << VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE;
	struct vmem *m;
	int ret;

	if (!host->hotplug || !host->hotplug->size)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	ret = virtio_dev_init(&m->dev, &vmem_ops, "virtio-mem", 1, VMEM_QUEUE_MAX, features,
			      sizeof(struct virtio_mem_config));
	if (ret) {
		free(m);
		return ret;
	}
	/*
	 * Unplugged blocks are PROT_NONE to KVM: a driver that might read them (one that does not
	 * know this bit) would stop its vCPU. It is refused at FEATURES_OK instead.
	 */
	m->dev.required_features = features;
	m->dev.host = host;
	m->hp = host->hotplug;
	*out = m;
	return 0;
}

/* After the transport was detached (virtio_dev_destroy); the region outlives the device. */
static void vmem_free(struct virtio_dev *d)
{
	struct vmem *m = to_vmem(d);

	pthread_mutex_destroy(&m->dev.lock);
	free(m);
}

void vmem_destroy(struct vmem *m)
{
	if (m)
		virtio_dev_destroy(&m->dev);
}

struct virtio_dev *vmem_dev(struct vmem *m)
{
	return &m->dev;
}

int vmem_request(struct virtio_dev *d, uint64_t size)
{
	struct vmem *m;

	if (d->ops != &vmem_ops)
		return -ENODEV;
	m = to_vmem(d);
	if (size % m->hp->block)
		return -EINVAL;
	if (size > m->hp->size)
		return -ERANGE;
	pthread_mutex_lock(&d->lock);
	if (size != m->requested) {
		log_debug("%s: requested %" PRIu64 " MiB (was %" PRIu64 " MiB, %u blocks plugged)",
			  d->name, size >> 20, m->requested >> 20, m->hp->nplugged);
		m->requested = size;
		d->config_generation++;
		/* A driver not up yet reads requested_size when it starts. */
		if (virtio_dev_live(d))
			virtio_dev_interrupt(d, VIRTIO_MMIO_INT_CONFIG);
	}
	pthread_mutex_unlock(&d->lock);
	return 0;
}

int vmem_status(struct virtio_dev *d, struct vmem_status *s)
{
	struct vmem *m;

	if (d->ops != &vmem_ops)
		return -ENODEV;
	m = to_vmem(d);
	pthread_mutex_lock(&d->lock);
	*s = (struct vmem_status){ .region = m->hp->size,
				   .plugged = (uint64_t)m->hp->nplugged * m->hp->block,
				   .requested = m->requested };
	pthread_mutex_unlock(&d->lock);
	return 0;
}
