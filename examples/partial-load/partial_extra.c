// SPDX-License-Identifier: GPL-2.0
/*
 * The optional module of partial-load: it calls oslec_create, which Debian's kernels do not
 * export (CONFIG_ECHO is off), as dahdi_echocan_oslec does. It builds (modpost warns) and
 * the loader refuses it.
 */
#include <linux/module.h>
#include <linux/printk.h>

struct oslec_state;
struct oslec_state *oslec_create(int len, int adaption_mode);

static int __init partial_extra_init(void)
{
	pr_info("partial_extra: %p\n", oslec_create(128, 0));
	return 0;
}

static void __exit partial_extra_exit(void)
{
}

module_init(partial_extra_init);
module_exit(partial_extra_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("partial-load: the module the loader refuses");
