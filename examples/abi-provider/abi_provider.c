// SPDX-License-Identifier: GPL-2.0
/*
 * abi_provider - a module that exports symbols for another DKMS module
 * (abi-consumer), one of each export kind the kernel knows in 6.1:
 *   abi_provider_add       EXPORT_SYMBOL         (any license may use it)
 *   abi_provider_secret    EXPORT_SYMBOL_GPL     (GPL-compatible users only)
 *   abi_provider_ns_value  EXPORT_SYMBOL_NS_GPL  in namespace DKMS_ABI_DEMO
 * Its Module.symvers lists the three with their CRCs; a consumer build needs
 * that file (KBUILD_EXTRA_SYMBOLS) or modpost reports them "undefined!".
 */
#include <linux/export.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>

static int base = 40;
module_param(base, int, 0444);
MODULE_PARM_DESC(base, "Value returned by abi_provider_ns_value()");

int abi_provider_add(int a, int b)
{
	return a + b;
}
EXPORT_SYMBOL(abi_provider_add);

unsigned long abi_provider_secret(void)
{
	return 0x5ec2e7UL;
}
EXPORT_SYMBOL_GPL(abi_provider_secret);

int abi_provider_ns_value(void)
{
	return base + 2;
}
/* 6.1 form: the namespace is a bare token, stringified by the macro. */
EXPORT_SYMBOL_NS_GPL(abi_provider_ns_value, DKMS_ABI_DEMO);

static int __init abi_provider_init(void)
{
	pr_info("abi_provider: exporting 3 symbols\n");
	return 0;
}

static void __exit abi_provider_exit(void)
{
	pr_info("abi_provider: unloaded\n");
}

module_init(abi_provider_init);
module_exit(abi_provider_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("dkms-abi examples");
MODULE_DESCRIPTION("Exports plain, GPL-only and namespaced symbols for abi-consumer");
MODULE_VERSION("1.0");
