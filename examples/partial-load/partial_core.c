// SPDX-License-Identifier: GPL-2.0
/* The module of partial-load that every Debian kernel loads. */
#include <linux/module.h>
#include <linux/printk.h>

static int __init partial_core_init(void)
{
	pr_info("partial_core: loaded\n");
	return 0;
}

static void __exit partial_core_exit(void)
{
	pr_info("partial_core: unloaded\n");
}

module_init(partial_core_init);
module_exit(partial_core_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("partial-load: the module that loads");
