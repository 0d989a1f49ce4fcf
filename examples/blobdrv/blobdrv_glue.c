// SPDX-License-Identifier: MIT
/*
 * blobdrv's open glue layer, nvidia-style: the only part compiled against the
 * kernel's headers (by kbuild, for each kernel). It implements the blobdrv_os_*
 * services the prebuilt blob calls and drives the blob through blob_api.h.
 *
 * The module declares a proprietary license, as nvidia.ko declares "NVIDIA":
 * loading it taints the kernel (P) and modpost refuses GPL-only exports, so it
 * uses plain EXPORT_SYMBOL symbols only (printk, kmalloc, kfree).
 */
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "blob/blob_api.h"

static unsigned int units = 4;
module_param(units, uint, 0444);
MODULE_PARM_DESC(units, "Work units the blob device is created with (1-64)");

static struct blob_device *blobdrv_dev;

void *blobdrv_os_alloc(unsigned long size)
{
	return kzalloc(size, GFP_KERNEL);
}

void blobdrv_os_free(void *ptr)
{
	kfree(ptr);
}

void blobdrv_os_log(const char *what, long value)
{
	pr_info("blobdrv: %s %ld\n", what, value);
}

static int __init blobdrv_init(void)
{
	/* nvidia's "API mismatch" check: glue and blob must speak the same interface. */
	if (blob_api_version() != BLOB_API_VERSION) {
		pr_err("blobdrv: blob speaks API %u, glue expects %u\n",
		       blob_api_version(), BLOB_API_VERSION);
		return -EINVAL;
	}
	blobdrv_dev = blob_device_create(units);
	if (!blobdrv_dev)
		return -ENOMEM;
	pr_info("blobdrv: loaded, compute(1) = %ld\n",
		blob_device_compute(blobdrv_dev, 1));
	return 0;
}

static void __exit blobdrv_exit(void)
{
	blob_device_destroy(blobdrv_dev);
	pr_info("blobdrv: unloaded\n");
}

module_init(blobdrv_init);
module_exit(blobdrv_exit);

MODULE_LICENSE("Proprietary");
MODULE_AUTHOR("dkms-abi examples");
MODULE_DESCRIPTION("nvidia-style module: open glue linked with a prebuilt blob");
MODULE_VERSION("1.0");
