/* SPDX-License-Identifier: GPL-2.0 */
/* The interface abi-provider exports; abi-consumer includes a copy of it. */
#ifndef ABI_PROVIDER_H
#define ABI_PROVIDER_H

int abi_provider_add(int a, int b);
unsigned long abi_provider_secret(void);
int abi_provider_ns_value(void); /* namespace DKMS_ABI_DEMO */

#endif
