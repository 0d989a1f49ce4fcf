// The CLI as the fault tests run it: the same bundle, dist/cli.mjs, as bin/dkms-abi, with the fault
// switches (DKMS_ABI_FAULT_AT, DKMS_ABI_FAULT_TRACE, src/system/txn.ts) turned on. Only the
// test harness starts this file (test/helpers/cli.ts); the shipped program ignores them.
globalThis[Symbol.for('dkms-abi.fault-injection')] = true;
const { main } = await import('../../dist/cli.mjs');
await main(process.argv.slice(2));
