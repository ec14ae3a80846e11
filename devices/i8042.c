/* i8042: the PS/2 controller, enough for Linux to probe it and to reset the machine through it. */
#include "devices/devices.h"

#include <string.h>

#define I8042_STS_OBF 0x01
#define I8042_STS_SYS 0x04
#define I8042_STS_CMD 0x08

#define I8042_CMD_READ_CTR 0x20
#define I8042_CMD_WRITE_CTR 0x60
#define I8042_CMD_AUX_TEST 0xa9
#define I8042_CMD_SELF_TEST 0xaa
#define I8042_CMD_KBD_TEST 0xab
#define I8042_CMD_READ_OUTPORT 0xd0
#define I8042_CMD_WRITE_OUTPORT 0xd1
#define I8042_CMD_PULSE_RESET 0xfe

void i8042_init(struct i8042 *k, const struct dev_host *host)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
	k->ctr = 0x45; /* kbd interrupt, system flag, translation */
	k->outport = 0x01; /* bit 0 low would hold the CPU in reset */
	k->host = *host;
}

void i8042_destroy(struct i8042 *k)
{
	pthread_mutex_destroy(&k->lock);
}

static void reply(struct i8042 *k, uint8_t v)
{
	if (k->olen < sizeof(k->obuf))
		k->obuf[k->olen++] = v;
}

static void i8042_data_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	struct i8042 *k = dev;

	(void)off;
	memset(data, 0, len);
	pthread_mutex_lock(&k->lock);
	if (k->olen) {
		data[0] = k->obuf[0];
		memmove(k->obuf, k->obuf + 1, --k->olen);
	}
	pthread_mutex_unlock(&k->lock);
}

static void i8042_data_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct i8042 *k = dev;
	bool reset = false;

	(void)off;
	(void)len;
	pthread_mutex_lock(&k->lock);
	switch (k->pending) {
	case I8042_CMD_WRITE_CTR:
		k->ctr = data[0];
		break;
	case I8042_CMD_WRITE_OUTPORT:
		k->outport = data[0];
		reset = !(data[0] & 1);
		break;
	default:
		/* A byte for the keyboard: there is none behind us, but acknowledge. */
		reply(k, 0xfa);
		break;
	}
	k->pending = 0;
	pthread_mutex_unlock(&k->lock);
	if (reset)
		k->host.event(k->host.opaque, DEV_RESET);
}

static void i8042_cmd_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	struct i8042 *k = dev;

	(void)off;
	memset(data, 0, len);
	pthread_mutex_lock(&k->lock);
	data[0] = (uint8_t)(I8042_STS_SYS | (k->olen ? I8042_STS_OBF : 0) |
			    (k->pending ? I8042_STS_CMD : 0));
	pthread_mutex_unlock(&k->lock);
}

static void i8042_cmd_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct i8042 *k = dev;
	bool reset = false;

	(void)off;
	(void)len;
	pthread_mutex_lock(&k->lock);
	switch (data[0]) {
	case I8042_CMD_READ_CTR:
		reply(k, k->ctr);
		break;
	case I8042_CMD_WRITE_CTR:
	case I8042_CMD_WRITE_OUTPORT:
		k->pending = data[0];
		break;
	case I8042_CMD_READ_OUTPORT:
		reply(k, k->outport);
		break;
	case I8042_CMD_SELF_TEST:
		reply(k, 0x55);
		break;
	case I8042_CMD_KBD_TEST:
		reply(k, 0x00);
		break;
	case I8042_CMD_AUX_TEST:
		reply(k, 0xff); /* no mouse port */
		break;
	case I8042_CMD_PULSE_RESET:
		reset = true;
		break;
	default:
		break; /* enable/disable and the rest change nothing we model */
	}
	pthread_mutex_unlock(&k->lock);
	if (reset)
		k->host.event(k->host.opaque, DEV_RESET);
}

const struct bus_ops i8042_data_ops = {
	.read = i8042_data_read,
	.write = i8042_data_write,
};

const struct bus_ops i8042_cmd_ops = {
	.read = i8042_cmd_read,
	.write = i8042_cmd_write,
};
