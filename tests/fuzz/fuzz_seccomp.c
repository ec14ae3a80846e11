/* libFuzzer target: arbitrary bytes as a config.json's linux.seccomp, compiled; must never crash or leak, and what compiles is a program the kernel's checker would take. */
#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "container/proto.h"
#include "container/seccomp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* As the kernel's bpf_check_classic: every jump lands inside, the last instruction returns. */
static void check(const struct sock_filter *f, size_t n)
{
	size_t i;

	if (!n || n > CTR_SECCOMP_MAX_INSNS || BPF_CLASS(f[n - 1].code) != BPF_RET)
		abort();
	for (i = 0; i < n; i++) {
		if (BPF_CLASS(f[i].code) != BPF_JMP)
			continue;
		if (BPF_OP(f[i].code) == BPF_JA ? f[i].k >= n - i - 1 :
		    f[i].jt >= n - i - 1 || f[i].jf >= n - i - 1)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512] = "";
	void *prog = NULL;
	unsigned int flags = 0;
	size_t len = 0;
	int ret;

	ret = ctr_seccomp_compile((const char *)data, size, &prog, &len, &flags, err, sizeof(err));
	/* Every refusal says why. */
	if (ret && (ret > 0 || !err[0] || prog))
		abort();
	if (!ret) {
		if (!prog || !len || len % sizeof(struct sock_filter) ||
		    flags & ~(unsigned int)CTR_SECCOMP_FLAGS)
			abort();
		check(prog, len / sizeof(struct sock_filter));
	}
	free(prog);
	return 0;
}
