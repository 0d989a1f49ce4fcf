// SPDX-License-Identifier: GPL-2.0
/*
 * hello_abi - the smallest useful DKMS module: says hello on load and goodbye
 * on unload, with one module parameter. It imports only core kernel symbols
 * (printk, module_layout), so its ABI verdict depends on those alone.
 */
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>

static char *greeting = "hello";
module_param(greeting, charp, 0444);
MODULE_PARM_DESC(greeting, "Word printed when the module loads");

static int __init hello_abi_init(void)
{
	pr_info("hello_abi: %s from kernel ABI land\n", greeting);
	return 0;
}

static void __exit hello_abi_exit(void)
{
	pr_info("hello_abi: goodbye\n");
}

module_init(hello_abi_init);
module_exit(hello_abi_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("dkms-abi examples");
MODULE_DESCRIPTION("Hello world module for dkms-abi demos and tests");
MODULE_VERSION("1.0");
