/* virtio-net queues: the TX path (guest -> backend) and the RX path (backend -> guest). */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

#include "virtio/net/internal.h"
#include "lib/iov.h"
#include "lib/log.h"

static bool has(const struct vnet *n, uint64_t f)
{
	return n->dev.features & f;
}

/* ---- TX: guest -> backend ---- */

/* Hand the frame staged in tx_* to the backend. false: it must wait for EPOLLOUT (held). */
static bool tx_send(struct vnet *n)
{
	int ret = n->be.ops->tx(&n->be, &n->tx_hdr, n->tx_iov, n->tx_n, n->tx_len);

	switch (ret) {
	case 0:
		n->stats.tx_frames++;
		return true;
	case VNET_TX_BUFFERED:
		n->stats.tx_frames++;
		n->tx_wait = true;
		vnet_be_arm(n);
		return true;
	case -EAGAIN:
		n->tx_wait = true;
		vnet_be_arm(n);
		return false;
	case -EPIPE:
		/* be_stop returns (and counts) a held chain itself. */
		if (!n->tx_held)
			n->stats.tx_dropped++;
		vnet_be_stop(n);
		return true;
	default:
		n->stats.tx_dropped++;
		log_debug("%s: frame of %zu bytes dropped: %s", n->be.name, n->tx_len,
			  strerror(-ret));
		return true;
	}
}

/*
 * One TX chain. true: finished (push it); false: held until the backend is
 * writable. A chain longer than a header and the largest frame is refused on
 * its length alone, so no more than one frame is ever handed on, however the
 * guest's descriptors alias its memory.
 */
static bool tx_one(struct vnet *n, const struct virtq_chain *c)
{
	const char *why;
	int ret;

	if (c->out_len < VNET_HDR_LEN || c->out_len > VNET_HDR_LEN + VNET_FRAME_MAX) {
		n->stats.tx_bad++;
		log_debug("%s: TX chain of %zu bytes is not a header and a frame", n->dev.name,
			  c->out_len);
		return true;
	}
	/* Our own copy: the guest may rewrite its buffer after we checked it. */
	virtq_read_out(c, 0, &n->tx_hdr, VNET_HDR_LEN);
	n->tx_len = c->out_len - VNET_HDR_LEN;
	ret = n->be.offloads ? vnet_hdr_check_tx(&n->tx_hdr, n->tx_len, n->dev.features, &why)
			     : vnet_hdr_check_plain(&n->tx_hdr, n->tx_len, &why);
	if (ret) {
		n->stats.tx_bad++;
		log_debug("%s: TX frame of %zu bytes dropped: %s", n->dev.name, n->tx_len, why);
		return true;
	}
	if (!n->be_up) {
		n->stats.tx_dropped++;
		return true;
	}
	/* tx_iov[1..]: the frame (the rest of the readable part); [0] is the backend's slot. */
	ret = iov_slice(n->tx_iov + 1, VNET_IOV_MAX, c->iov, c->nout, VNET_HDR_LEN, n->tx_len);
	if (ret < 0) { /* cannot be: the frame is the chain's own bytes, in VNET_IOV_MAX entries */
		n->stats.tx_dropped++;
		return true;
	}
	n->tx_n = (unsigned int)ret;
	n->tx_head = c->head;
	if (tx_send(n))
		return true;
	n->tx_held = true;
	return false;
}

/* Send up to VNET_BUDGET frames, then yield to the loop with a self-kick. Lock held. */
void vnet_tx_process(struct vnet *n)
{
	struct virtio_dev *d = &n->dev;
	struct virtq *q = &d->vq[VNET_TXQ];
	unsigned int budget = VNET_BUDGET;
	bool pushed = false;
	int ret;

	if (!virtio_dev_live(d) || !q->enabled || q->broken)
		return;
	while (!n->tx_wait) {
		struct virtq_chain c = { .iov = n->tx_chain, .cap = VNET_IOV_MAX };

		if (!budget--) {
			if (virtq_pending(q))
				virtio_dev_requeue(d, VNET_TXQ);
			break;
		}
		ret = virtq_pop(q, &c);
		if (!ret)
			break;
		if (ret < 0) {
			virtio_dev_fail(d, "TX queue: %s", q->why);
			vnet_be_arm(n);
			break;
		}
		if (!tx_one(n, &c))
			break;
		virtq_push(q, c.head, 0);
		pushed = true;
	}
	if (pushed)
		virtio_dev_queue_done(d, VNET_TXQ);
}

/* The backend fd became writable: finish the buffered record, then the held frame, then more. */
void vnet_tx_writable(struct vnet *n)
{
	struct virtio_dev *d = &n->dev;
	int ret;

	if (n->be.tx_len && n->be.ops->flush) {
		ret = n->be.ops->flush(&n->be);
		if (ret == -EAGAIN)
			return;
		if (ret) {
			vnet_be_stop(n);
			return;
		}
	}
	n->tx_wait = false;
	if (n->tx_held) {
		if (!tx_send(n))
			return;
		if (!n->tx_held) /* be_stop took it */
			return;
		n->tx_held = false;
		if (virtio_dev_live(d)) {
			virtq_push(&d->vq[VNET_TXQ], n->tx_head, 0);
			virtio_dev_queue_done(d, VNET_TXQ);
		}
	}
	vnet_be_arm(n);
	vnet_tx_process(n);
}

/* ---- RX: backend -> guest ---- */

void vnet_rx_forget(struct vnet *n)
{
	n->rx_off = 0;
	n->rx_nbuf = 0;
	n->rx_first_n = 0;
}

/*
 * Without MRG_RXBUF one chain takes the whole frame, or the frame is dropped.
 * However long the chain claims to be, only the frame is written into it.
 * -EBUSY: no chain left in this call's budget (*chains).
 */
static int rx_single(struct vnet *n, struct virtq *q, unsigned int *chains)
{
	struct virtq_chain c = { .iov = n->rx_iov, .cap = VNET_IOV_MAX };
	struct virtio_net_hdr_v1 *h = (struct virtio_net_hdr_v1 *)(void *)n->rxbuf;
	int ret;

	if (!*chains)
		return -EBUSY;
	ret = virtq_pop(q, &c);
	if (ret <= 0)
		return ret < 0 ? -EIO : -EAGAIN;
	(*chains)--;
	if (c.in_len < n->rx_len) {
		/* The driver posted less than the spec asks (1526 or 65562 bytes); its loss. */
		n->stats.rx_dropped++;
		virtq_push(q, c.head, 0);
		return 0;
	}
	h->num_buffers = htole16(1);
	virtq_write_in(&c, 0, n->rxbuf, n->rx_len);
	virtq_push(q, c.head, (uint32_t)n->rx_len);
	n->stats.rx_frames++;
	return 0;
}

/* Return the chains a frame had taken, unwritten: it is dropped. */
static void rx_drop_chains(struct vnet *n, struct virtq *q)
{
	unsigned int i;

	for (i = 0; i < n->rx_nbuf; i++)
		virtq_push(q, n->rx_head[i], 0);
	n->stats.rx_dropped++;
	vnet_rx_forget(n);
}

/*
 * With MRG_RXBUF the frame fills as many chains as it needs; they are held
 * (only head and length: the data is written at once) until the frame is
 * whole, then pushed together with num_buffers in the first one. When the
 * buffers run out mid-frame, the state stays for the next RX kick; when the
 * call's budget of chains (*chains) does, for the next pass (-EBUSY). Each
 * chain gets at most the rest of the frame, whatever length it claims.
 */
static int rx_merge(struct vnet *n, struct virtq *q, unsigned int *chains)
{
	struct virtq_chain c = { .iov = n->rx_iov, .cap = VNET_IOV_MAX };
	struct virtq_chain first;
	unsigned int i, useless = 0;
	uint16_t nb;
	size_t k;
	int ret;

	while (n->rx_off < n->rx_len) {
		/*
		 * Every descriptor is ours and the frame still does not fit, or the
		 * guest keeps feeding chains we cannot use: give the frame up.
		 */
		if (n->rx_nbuf == q->size || useless > q->size) {
			rx_drop_chains(n, q);
			return 0;
		}
		if (!*chains)
			return -EBUSY;
		ret = virtq_pop(q, &c);
		if (ret <= 0)
			return ret < 0 ? -EIO : -EAGAIN;
		(*chains)--;
		/* The header (num_buffers) must fit the first chain; an empty one is useless. */
		if (!c.in_len || (!n->rx_nbuf && c.in_len < VNET_HDR_LEN)) {
			virtq_push(q, c.head, 0);
			useless++;
			continue;
		}
		k = n->rx_len - n->rx_off < c.in_len ? n->rx_len - n->rx_off : c.in_len;
		virtq_write_in(&c, 0, n->rxbuf + n->rx_off, k);
		if (!n->rx_nbuf) {
			memcpy(n->rx_first, c.iov + c.nout, c.nin * sizeof(struct iovec));
			n->rx_first_n = c.nin;
		}
		n->rx_head[n->rx_nbuf] = c.head;
		n->rx_used[n->rx_nbuf] = (uint32_t)k;
		n->rx_nbuf++;
		n->rx_off += k;
	}
	nb = htole16((uint16_t)n->rx_nbuf);
	first = (struct virtq_chain){ .iov = n->rx_first, .nin = n->rx_first_n };
	virtq_write_in(&first, offsetof(struct virtio_net_hdr_v1, num_buffers), &nb, sizeof(nb));
	for (i = 0; i < n->rx_nbuf; i++)
		virtq_push(q, n->rx_head[i], n->rx_used[i]);
	n->stats.rx_frames++;
	vnet_rx_forget(n);
	return 0;
}

/* Read a frame from the backend into rxbuf: 0 with rx_len set, -EAGAIN, or -EPIPE. */
static int rx_fetch(struct vnet *n)
{
	struct virtio_net_hdr_v1 *h = (struct virtio_net_hdr_v1 *)(void *)n->rxbuf;
	unsigned int tries;
	const char *why;
	ssize_t r;

	/* Bad frames are skipped, a budget's worth at most: the loop comes back for more. */
	for (tries = 0; tries < VNET_BUDGET; tries++) {
		r = n->be.ops->rx(&n->be, n->rxbuf, VNET_RX_BUF);
		if (r == -EAGAIN || r == -EPIPE)
			return (int)r;
		if (r < 0) {
			n->stats.rx_bad++;
			return -EAGAIN;
		}
		if ((size_t)r < VNET_HDR_LEN ||
		    vnet_hdr_rx_fixup(h, (size_t)r - VNET_HDR_LEN, n->dev.features, &why)) {
			n->stats.rx_bad++;
			log_debug("%s: RX frame of %zd bytes dropped: %s", n->be.name, r,
				  (size_t)r < VNET_HDR_LEN ? "shorter than the header" : why);
			if (!r)
				return -EAGAIN;
			continue;
		}
		n->rx_len = (size_t)r;
		return 0;
	}
	return -EAGAIN;
}

/*
 * Move up to VNET_BUDGET frames into the guest, taking up to VNET_BUDGET
 * chains. Out of buffers: stop polling the backend until the guest kicks RX
 * (the frame waits in rxbuf). Level-triggered epoll brings us back when more
 * is readable; a frame left half placed for want of budget, a requeue of the
 * RX queue. Lock held.
 */
void vnet_rx_process(struct vnet *n)
{
	struct virtio_dev *d = &n->dev;
	struct virtq *q = &d->vq[VNET_RXQ];
	uint16_t before = q->used_idx;
	unsigned int frames, chains = VNET_BUDGET;
	int ret;

	if (!n->active || !virtio_dev_live(d) || !q->enabled || q->broken)
		goto out;
	for (frames = 0; frames < VNET_BUDGET; frames++) {
		if (!chains)
			break;
		if (!n->rx_len) {
			if (!n->be_up)
				break;
			ret = rx_fetch(n);
			if (ret == -EPIPE) {
				vnet_be_stop(n);
				break;
			}
			if (ret)
				break;
		}
		ret = has(n, VNET_F(MRG_RXBUF)) ? rx_merge(n, q, &chains)
						: rx_single(n, q, &chains);
		if (ret == -EAGAIN) {
			n->rx_wait = true;
			n->stats.rx_waits++;
			break;
		}
		if (ret == -EBUSY) {
			virtio_dev_requeue(d, VNET_RXQ);
			break;
		}
		if (ret < 0) {
			virtio_dev_fail(d, "RX queue: %s", q->why);
			break;
		}
		n->rx_len = 0;
	}
out:
	vnet_be_arm(n);
	if (q->used_idx != before)
		virtio_dev_queue_done(d, VNET_RXQ);
}
