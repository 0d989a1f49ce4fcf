/* SPDX-License-Identifier: MIT */
/*
 * The boundary between blobdrv's open glue layer and its "vendor blob", like
 * nvidia's os-interface.h / nv.h between nvidia.ko's glue and nv-kernel.o.
 * The blob is compiled without kernel headers, so this header uses plain C
 * types only and must not include anything.
 */
#ifndef BLOB_API_H
#define BLOB_API_H

/* Bumped whenever this interface changes; the glue refuses a different blob. */
#define BLOB_API_VERSION 3u

/* Provided by the glue (kernel side), called by the blob. */
void *blobdrv_os_alloc(unsigned long size);
void blobdrv_os_free(void *ptr);
void blobdrv_os_log(const char *what, long value);

/* Provided by the blob, called by the glue. */
struct blob_device;
unsigned int blob_api_version(void);
struct blob_device *blob_device_create(unsigned int units);
long blob_device_compute(struct blob_device *dev, long seed);
void blob_device_destroy(struct blob_device *dev);

#endif
