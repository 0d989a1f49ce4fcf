// SPDX-License-Identifier: MIT
/*
 * The "vendor blob": stands for code a vendor ships only as an object file
 * (nvidia's nv-kernel.o). It never sees a kernel header; everything it needs
 * from the kernel goes through the glue's blobdrv_os_* functions, so one object
 * links into the module for every kernel. Built by blob/Makefile with plain gcc.
 */
#include "blob_api.h"

#define BLOB_TABLE_SIZE 16

struct blob_device {
	unsigned int units;
	unsigned long table[BLOB_TABLE_SIZE];
};

/* A stand-in for microcode: data only the blob knows how to use. */
static const unsigned long blob_firmware[BLOB_TABLE_SIZE] = {
	0x9e3779b9ul, 0x7f4a7c15ul, 0x85ebca6bul, 0xc2b2ae35ul,
	0x27d4eb2ful, 0x165667b1ul, 0xd3a2646cul, 0xfd7046c5ul,
	0xb55a4f09ul, 0x4cf5ad43ul, 0x2545f491ul, 0x9fb21c65ul,
	0x1b873593ul, 0xcc9e2d51ul, 0xe6546b64ul, 0x52dce729ul,
};

unsigned int blob_api_version(void)
{
	return BLOB_API_VERSION;
}

struct blob_device *blob_device_create(unsigned int units)
{
	struct blob_device *dev;
	unsigned int i;

	if (units == 0 || units > 64) {
		blobdrv_os_log("blob: invalid unit count", (long)units);
		return 0;
	}
	dev = blobdrv_os_alloc(sizeof(*dev));
	if (!dev)
		return 0;
	dev->units = units;
	for (i = 0; i < BLOB_TABLE_SIZE; i++)
		dev->table[i] = blob_firmware[i] ^ (0x0101010101010101ul * units);
	blobdrv_os_log("blob: device ready, units", (long)units);
	return dev;
}

long blob_device_compute(struct blob_device *dev, long seed)
{
	unsigned long acc = (unsigned long)seed;
	unsigned int round, i;

	for (round = 0; round < dev->units; round++)
		for (i = 0; i < BLOB_TABLE_SIZE; i++)
			acc = (acc ^ dev->table[i]) * 0x100000001b3ul + round;
	return (long)(acc >> 1);
}

void blob_device_destroy(struct blob_device *dev)
{
	blobdrv_os_free(dev);
}
