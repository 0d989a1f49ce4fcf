// SPDX-License-Identifier: GPL-2.0
/*
 * abi_consumer - uses all three exports of abi_provider (plain, GPL-only and
 * namespaced), so it depends on another DKMS module's ABI, not only the
 * kernel's. Its __versions table records the provider's CRCs, which modpost
 * can only find in the provider's Module.symvers: build it with
 *   KBUILD_EXTRA_SYMBOLS=<provider build dir>/Module.symvers
 * (dkms.conf declares BUILD_DEPENDS on abi-provider for the same reason).
 */
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>

#include "abi_provider.h"

MODULE_IMPORT_NS(DKMS_ABI_DEMO);

static int __init abi_consumer_init(void)
{
	pr_info("abi_consumer: add(2, 3) = %d, secret = %#lx, ns_value = %d\n",
		abi_provider_add(2, 3), abi_provider_secret(),
		abi_provider_ns_value());
	return 0;
}

static void __exit abi_consumer_exit(void)
{
	pr_info("abi_consumer: unloaded\n");
}

module_init(abi_consumer_init);
module_exit(abi_consumer_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("dkms-abi examples");
MODULE_DESCRIPTION("Calls abi_provider's exports; needs its Module.symvers to build");
MODULE_VERSION("1.0");
